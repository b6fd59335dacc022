"""I/O at the edges: files, followed logs, sockets. Everything here hands text or bytes to the pure parsers."""
