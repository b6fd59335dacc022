"""Pure parsers: text or bytes in, Events out. No I/O, no clock."""
