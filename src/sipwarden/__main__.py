"""`python -m sipwarden`: the same command line as the `sipwarden` script."""

from .cli import main

main()
