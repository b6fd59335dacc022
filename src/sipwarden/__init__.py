"""sipwarden: see SIP attackers in PBX logs and on the wire, ban them in the kernel."""

__version__ = "0.1.0"
