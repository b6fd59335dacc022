"""Imported blocklists (VoIPBL-style plain lists, APIBAN-style JSON): parsed, capped, whitelist
removed, kept in kernel sets of their own (never counted as bans). `sources` parses and fetches,
`runtime` refreshes and loads the kernel, `export` writes our bans as a list; the CLI is
cli/blocklist.py."""
