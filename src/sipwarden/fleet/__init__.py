"""The fleet: nodes share bans and failure events through Redis streams.

`settings` checks the configuration, `messages` is the pure wire format (encode, validate),
`link` is the Redis side (publish queue, stream reader, heartbeats, reconnects), `command` the CLI.
"""
