"""Exports as JSON Lines, and their import.

room.py: a room's whole history (`manage.py export_room`, the Room admin's action);
person.py: a person's own data (GET /settings/export/); load.py: `manage.py import_room`;
stream.py: serving either as a download without holding it in memory.

Every line is one JSON object with a "type". Lines are written chunk by chunk (keyset
pagination by id), so an export of a million messages takes the memory of one chunk.
"""
