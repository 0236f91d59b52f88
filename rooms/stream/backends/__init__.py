"""Fan-out backends: local.py (in process) and redis.py (across processes). What they do is
the FanoutBackend protocol in rooms/events.py."""
