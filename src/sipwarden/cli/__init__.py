"""The `sipwarden` command line: one module per group of subcommands, loaded only when used.

    scan.py      scan, explain: logs and captures through pipeline/ (no daemon needed)
    check.py     check-config
    run.py       run: the daemon in the foreground (daemon/)
    control.py   status, bans, ban, unban: the running daemon through its control socket (or its store)
    firewall.py  firewall list|remove
    audit.py, report.py, fleet.py, blocklist.py: the commands of audit/, report/, fleet/, blocklist/

`common.py` holds what they share; this module only names them. `sipwarden --help` imports none of
them (their one-line help is in COMMANDS, held equal to each command's own by tests/test_cli.py):
`scan` must not pay for asyncio, the daemon or the auditor at every start.
"""

from __future__ import annotations

import click

from .. import __version__
from .common import OperatorError, os_error_text

# name -> (module:attribute, the one-line help `sipwarden --help` shows)
COMMANDS = {
    "audit": ("sipwarden.cli.audit:audit",
              "Audit an Asterisk config directory (default /etc/asterisk) or one file for the settings that let "
              "attackers in: guests, enumeration, weak passwords, toll-fraud dialplan, open AMI/ARI."),
    "ban": ("sipwarden.cli.control:ban", "Ban an address or network by hand."),
    "bans": ("sipwarden.cli.control:bans", "List the bans in force."),
    "blocklist": ("sipwarden.cli.blocklist:blocklist",
                  "Imported blocklists ([blocklists] sources: files or http(s) URLs)."),
    "check-config": ("sipwarden.cli.check:check_config",
                     "Validate a config file and print the settings in force (secrets masked)."),
    "explain": ("sipwarden.cli.scan:explain",
                "Tell the evidence the logs (and captures) hold against one address or network (CIDR)."),
    "firewall": ("sipwarden.cli.firewall:firewall", "The kernel side of the bans (the configured backend)."),
    "fleet": ("sipwarden.cli.fleet:fleet", "The fleet of nodes sharing bans through Redis."),
    "report": ("sipwarden.cli.report:report",
               "Draw an attack as one self-contained HTML file: timeline, bans, top sources, accounts, toll-fraud "
               "destinations (and config audit findings)."),
    "run": ("sipwarden.cli.run:run",
            "Run the daemon in the foreground (systemd-friendly): follow logs, ban attackers."),
    "scan": ("sipwarden.cli.scan:scan",
             "Read PBX logs (plain, .gz, or - for stdin) and captures (pcap/pcapng, .gz) and report who attacked."),
    "status": ("sipwarden.cli.control:status",
               "Is the daemon running and healthy, what is it watching, how many bans."),
    "unban": ("sipwarden.cli.control:unban", "Lift a ban at once (kernel and store)."),
}


class LazyGroup(click.Group):
    """Subcommands load from their module when used; the group's help lists them from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        import importlib
        module, _, attr = COMMANDS[name][0].partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's own listing (each help cut to the width left), without importing the commands."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        with formatter.section("Commands"):
            formatter.write_dl([(name, click.utils.make_default_short_help(text, limit))
                                for name, (_, text) in sorted(COMMANDS.items())])

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        """Operator mistakes the commands meet at run time (no permission, a read-only or missing
        directory, a state dir another daemon holds) end in one line and status 2, not a traceback."""
        from ..daemon.lock import StateDirError
        try:
            return super().invoke(ctx)
        except StateDirError as e:
            raise OperatorError(str(e)) from None
        except OSError as e:
            import errno
            if e.errno == errno.EPIPE:
                raise
            raise OperatorError(os_error_text(e)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sipwarden")
def main() -> None:
    """See SIP attackers in PBX logs and on the wire; ban them in the kernel."""
