"""For programs: API tokens (tokens.py), incoming and outgoing webhooks (hooks.py,
outgoing.py) and the OpenAPI document of the JSON API (openapi.py). Their models are in
rooms/models/programs.py."""
