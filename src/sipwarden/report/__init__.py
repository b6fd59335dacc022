"""`sipwarden report --html`: one self-contained page showing an attack, from logs or the daemon's store.

`build` makes the data document (pure aggregation in `aggregate`, countries in `destinations`),
`html` wraps it with the project's own chart script; the daemon's dashboard reuses both.
"""
