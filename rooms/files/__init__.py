"""Files and images in rooms: what an upload is (inspect.py), storing it and serving it
after the room's read rule (views.py). The model and its clean-up tasks are
rooms/models/uploads.py."""
