"""The fleet: nodes share bans and failure events through Redis streams.

`messages` is the pure wire format (encode, validate), `link` the Redis side (publish queue,
stream reader, heartbeats, reconnects). The daemon's side (what it offers the link: the one ban
path, detection) is daemon/fleet.py; the [fleet] settings are checked in config/fleet.py; the CLI
is cli/fleet.py.
"""
