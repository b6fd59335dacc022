"""What every subcommand shares: the operator-error exception, the common options, loading the
config, the state dir and the daemon's control socket, tables for people."""

from __future__ import annotations

import sys

import click

from ..config import Config, ConfigError, DaemonConfig, load


class OperatorError(click.ClickException):
    """An operator's mistake (a bad value, a missing file, no permission): one line, exit status 2."""

    exit_code = 2


def plural(count: int, noun: str) -> str:
    """'1 ban', '2 bans': messages say what they count in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def os_error_text(e: OSError) -> str:
    """`path: reason` for an OSError, without Python's `[Errno N]`."""
    where = f"{e.filename}: " if e.filename else ""
    return where + (e.strerror or str(e)).rstrip(".")


CONFIG_HELP = "TOML config file (or $SIPWARDEN_CONFIG)."
config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="SIPWARDEN_CONFIG",
                             help=CONFIG_HELP)


def format_option(fn):  # noqa: ANN001, ANN201
    """`--format table|json` and its alias `--json`, handed to the command as `as_json`."""
    import functools

    @click.option("--json", "json_flag", is_flag=True, help="Same as --format json.")
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
                  help="json: one document (JSON Lines for streams).")
    @functools.wraps(fn)
    def wrapper(*args, fmt: str, json_flag: bool, **kw):  # noqa: ANN002, ANN003, ANN202
        return fn(*args, as_json=json_flag or fmt == "json", **kw)
    return wrapper


def load_config(path: str | None) -> Config:
    """The config file (defaults without one); a bad one is an operator error."""
    try:
        return load(path)
    except ConfigError as e:
        raise OperatorError(str(e)) from None


def shown(text: str, limit: int = 24) -> str:
    """Attacker text made safe to print: no control characters (no terminal escapes), bounded."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def print_table(headers: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """A table for people: rich's on a terminal; on a pipe or file plain aligned columns that never wrap
    (an address split across lines breaks grep and awk). Cells are shown() (no terminal escapes) and
    never parsed as markup: much of what they hold is attacker text."""
    cells = [[shown(str(c), 200) for c in row] for row in rows]
    out_console = console()
    if out_console.is_terminal:
        from rich.table import Table
        from rich.text import Text
        table = Table(title=title, header_style="bold")
        for h in headers:
            table.add_column(h, overflow="fold")
        for row in cells:
            table.add_row(*(Text(c) for c in row))
        out_console.print(table)
        return
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    out = sys.stdout
    if title:
        out.write(title + "\n")
    for row in [headers, *cells]:
        out.write("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)) + "  " + row[-1] + "\n")


def console(err: bool = False):  # noqa: ANN202
    from rich.console import Console
    return Console(stderr=err)


DEFAULT_STATE = DaemonConfig.state_dir  # one default, the config's
state_option = click.option("--state-dir", default=None, envvar="SIPWARDEN_STATE_DIR",
                            help=f"State directory (or $SIPWARDEN_STATE_DIR; default from config, else {DEFAULT_STATE}).")


def state_dir_of(cfg: Config, state_dir: str | None) -> str:
    """--state-dir, else the config's [daemon] state_dir, else the default."""
    return state_dir or cfg.daemon.state_dir or DEFAULT_STATE


def ask(state: str, req: dict) -> dict | None:
    """The running daemon's answer through its control socket in `state`; None when none runs."""
    from ..daemon.client import request
    try:
        return request(state, req)
    except (OSError, ValueError) as e:
        hint = " (run as root or as the daemon's user)" if isinstance(e, PermissionError) else ""
        raise OperatorError(f"control socket in {state}: {e.strerror if isinstance(e, OSError) else e}{hint}") from None
