"""`sipwarden scan` and `explain`: logs and captures through the offline pipeline (pipeline/scan.py),
verdicts and evidence for people (tables) and programs (JSON Lines)."""

from __future__ import annotations

import json
import sys
import time

import click

from ..config import Config
from ..events import Verdict, iso
from ..sources.logfile import LogFile, SourceError
from .common import (
    OperatorError,
    config_option,
    console,
    format_option,
    load_config,
    plural,
    print_table,
    shown,
)


def _inputs(paths: tuple[str, ...], cfg: Config, unread: list[str] | None = None) -> tuple[list[LogFile], list[str]]:
    """pipeline.scan.open_inputs, a log that cannot be read (without `unread`) an operator error."""
    from ..pipeline.scan import open_inputs
    try:
        return open_inputs(paths, cfg, unread)
    except SourceError as e:
        raise OperatorError(str(e)) from None


PARTIAL = 3  # exit status of scan/explain when some input could not be read (the rest was)


def _report_unread(unread: list[str], logs: list[LogFile]) -> None:
    """Name every input not (fully) read, on stderr, and exit PARTIAL; 2 if nothing was read at all."""
    unread = unread + [lg.error for lg in logs if lg.error]
    for what in unread:
        click.echo(f"sipwarden: NOT READ: {what}", err=True)
    if unread:
        sys.exit(PARTIAL)


def _run(logs: list[LogFile], captures: list[str], cfg: Config, on_event):  # noqa: ANN001, ANN202
    from ..pipeline.scan import run
    return run(logs, cfg, on_event, captures)


@click.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="json: JSON Lines, one verdict (or event) per line.")
@click.option("--json", "json_flag", is_flag=True, help="Same as --format json.")
@click.option("--events", "show_events", is_flag=True, help="Print the parsed events instead of verdicts.")
@click.argument("paths", nargs=-1, required=True)
def scan(config_path: str | None, fmt: str, json_flag: bool, show_events: bool, paths: tuple[str, ...]) -> None:
    """Read PBX logs (plain, .gz, or - for stdin) and captures (pcap/pcapng, .gz) and report who attacked.

    Several files are merged in time order (e.g. messages and security).
    """
    fmt = "json" if json_flag else fmt
    cfg = load_config(config_path)
    unread: list[str] = []
    logs, captures = _inputs(paths, cfg, unread)
    _nothing_readable(logs, captures, unread)
    out = sys.stdout
    on_event = None
    if show_events:
        def on_event(ev):  # noqa: ANN001
            if fmt == "json":
                out.write(json.dumps(ev.to_dict()) + "\n")
            else:
                out.write(_event_line(ev) + "\n")
    started = time.perf_counter()
    try:
        with _progress(logs) as tick:
            result = _run(logs, captures, cfg, _chain(on_event, tick))
    except SourceError as e:
        raise click.ClickException(str(e)) from None
    elapsed = time.perf_counter() - started
    if not show_events:
        if fmt == "json":
            for v in result.verdicts:
                out.write(json.dumps(v.to_dict()) + "\n")
        else:
            _verdict_table(result.verdicts)
    for note in getattr(result, "notes", ()):
        click.echo(f"sipwarden: {note}", err=True)
    for v in result.verdicts:
        if v.reason == "compromise":
            click.echo(f"sipwarden: COMPROMISED {_compromise_line(v)}", err=True)
    per_s = (result.lines or result.events) / elapsed if elapsed > 0 else 0
    from ..parsers import stream  # the stats line says which chunk loop read the logs
    click.echo(f"sipwarden: {plural(result.lines, 'line')}, {plural(result.events, 'event')}, "
               f"{plural(len(result.verdicts), 'verdict')}, {plural(result.engine.tamper, 'tamper event')}, "
               f"{plural(result.oversized, 'oversized line')} skipped "
               f"in {elapsed:.2f}s ({per_s:,.0f} {'lines' if result.lines else 'events'}/s, "
               f"{_reader(stream.ACCEL is not None)})", err=True)
    _report_unread(unread, logs)


def _nothing_readable(logs: list[LogFile], captures: list[str], unread: list[str]) -> None:
    if not logs and not captures:
        for what in unread:
            click.echo(f"sipwarden: NOT READ: {what}", err=True)
        raise OperatorError("none of the inputs could be read")


def _chain(a, b):  # noqa: ANN001, ANN202
    if a is None:
        return b
    if b is None:
        return a

    def both(ev):  # noqa: ANN001, ANN202
        a(ev)
        b(ev)
    return both


class _progress:
    """A progress bar on a terminal for big inputs; nothing otherwise (pipes, CI, small files)."""

    BIG = 20 * 1024 * 1024

    def __init__(self, logs: list[LogFile]) -> None:
        self.logs = logs
        self.total = sum(lg.size for lg in logs)
        self.bar = None

    def __enter__(self):  # noqa: ANN204
        if not sys.stderr.isatty() or self.total < self.BIG:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
        self.bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), transient=True, console=console(err=True))
        self.bar.start()
        task = self.bar.add_task("scanning", total=self.total)
        count = [0]

        def tick(_ev) -> None:  # noqa: ANN001
            count[0] += 1
            if count[0] & 0x3FFF == 0:
                self.bar.update(task, completed=sum(lg.progress() for lg in self.logs))
        return tick

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.bar is not None:
            self.bar.stop()


def _event_line(ev) -> str:  # noqa: ANN001
    parts = [f"{ev.file}:{ev.line}" if ev.file else (ev.origin or "-"), iso(ev.time) if ev.time is not None else "-", ev.ip or "-", str(ev.kind)]
    for k in ("service", "method", "account", "target", "detail"):
        v = getattr(ev, k)
        if v:
            parts.append(f"{k}={v!r}" if k in ("account", "target") else f"{k}={v}")
    return "  ".join(parts)


def _compromise_line(v: Verdict) -> str:
    """One line for a cracked account: what to do comes first (change the password)."""
    account = v.accounts[0] if v.accounts else "?"
    return (f"account {account} from {v.ip} after {v.counts.get('failures_before', '?')} failed attempts, first "
            f"success {iso(v.at)[:19].replace('T', ' ')} UTC: change its password")


def _operator_rules(cfg, who: str, mine: list) -> dict[str, str]:  # noqa: ANN001
    """What [detect] registrations_from and canary_accounts say about this address (only those set)."""
    from ..addr import AddressSet
    from ..events import Kind
    d = cfg.detect
    out = {}
    if d.registrations_from:
        inside = who in AddressSet(d.registrations_from)
        logins = sum(1 for e in mine if e.kind in (Kind.AUTH_FAILED, Kind.UNKNOWN_ACCOUNT, Kind.ACL_FAILED,
                                                    Kind.CHALLENGE_SENT, Kind.AUTH_OK) and e.method != "INVITE")
        out["registrations_from"] = ("inside: phones may register from here" if inside else
                                     f"outside: {logins} login attempts from here; the first one is a ban")
    if d.canary_accounts:
        touched = sorted({a for e in mine for a in (e.account, e.target) if a in d.canary_accounts})
        out["canary_accounts"] = (f"touched {', '.join(touched)}: a ban on the first touch" if touched else
                                  f"none of {', '.join(d.canary_accounts)} touched")
    return out


def _verdict_table(verdicts: list[Verdict]) -> None:
    if not verdicts:
        click.echo("No attackers found.")
        return
    rows = []
    for v in verdicts:
        accts = ", ".join(shown(a, 16) for a in v.accounts[:4]) + (" …" if len(v.accounts) > 4 else "")
        rows.append([v.ip, str(v.reason), iso(v.at)[:19].replace("T", " "), str(v.events), accts, v.evidence])
    print_table(["address", "reason", "decided at (UTC)", "events", "accounts tried", "why"], rows,
                title=f"{len(verdicts)} attacking sources")


@click.command()
@config_option
@format_option
@click.argument("ip")
@click.argument("paths", nargs=-1, required=True)
def explain(config_path: str | None, as_json: bool, ip: str, paths: tuple[str, ...]) -> None:
    """Tell the evidence the logs (and captures) hold against one address or network (CIDR)."""
    import ipaddress

    from ..addr import normalize
    who = normalize(ip)
    net = None
    if who is None:
        try:
            net = ipaddress.ip_network(ip.strip(), strict=False)
        except ValueError:
            raise OperatorError(f"not an IP address or network: {ip!r}") from None
        who = str(net)
    cfg = load_config(config_path)
    unread: list[str] = []
    logs, captures = _inputs(paths, cfg, unread)
    _nothing_readable(logs, captures, unread)
    mine = []

    def keep(ev) -> None:  # noqa: ANN001
        if len(mine) < 10_000 and (ev.ip == who if net is None else _in_net(ev.ip, who)):
            mine.append(ev)
    try:
        result = _run(logs, captures, cfg, keep)
    except SourceError as e:
        raise click.ClickException(str(e)) from None
    verdict = next((v for v in result.verdicts if v.ip == who), None)
    nets = [v for v in result.verdicts if "/" in v.ip and v.ip != who and _in_net(who.split("/")[0], v.ip)]
    inside = [v for v in result.verdicts if net is not None and "/" not in v.ip and _in_net(v.ip, who)]
    whitelisted = who in cfg.whitelist_set() if net is None else any(_in_net(str(w), who) or _in_net(
        who.split("/")[0], str(w)) for w in cfg.whitelist.addresses)
    rules = _operator_rules(cfg, who, mine)
    doc = {
        "ip": who,
        "network": net is not None,
        "whitelisted": whitelisted,
        "verdict": verdict.to_dict() if verdict else None,
        "compromise": {"account": verdict.accounts[0] if verdict.accounts else None, "source": who,
                       "failures_before": verdict.counts.get("failures_before"), "first_success": iso(verdict.at)}
        if verdict is not None and verdict.reason == "compromise" else None,
        "operator_rules": rules,
        "networks": [v.to_dict() for v in nets],
        "addresses": [v.to_dict() for v in inside],  # verdicts on addresses inside a network asked about
        "events": len(mine),
        "by_kind": _count(str(e.kind) for e in mine),
        "by_origin": _count(e.origin or "?" for e in mine),
        "accounts": sorted({e.account for e in mine if e.account})[:50],
        "targets": sorted({e.target for e in mine if e.target})[:50],
        "first_seen": iso(mine[0].time) if mine and mine[0].time else None,
        "last_seen": iso(mine[-1].time) if mine and mine[-1].time else None,
        "sample": [e.to_dict() for e in mine[:5]],
        "unread": unread + [lg.error for lg in logs if lg.error],
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        _report_unread(unread, logs)
        return
    click.echo(f"{who}: {len(mine)} events in {', '.join(paths)}")
    if whitelisted:
        click.echo("  whitelisted: never reported or banned")
    if doc["compromise"]:
        click.echo(f"  COMPROMISED: {_compromise_line(verdict)}")  # type: ignore[arg-type]
    if verdict:
        click.echo(f"  verdict: {verdict.reason} at {iso(verdict.at)} — {verdict.evidence}")
    elif not mine:
        click.echo(f"  nothing about this {'network' if net else 'address'} in these logs")
    else:
        click.echo("  no verdict: below every threshold")
    for k, text in rules.items():
        click.echo(f"  {k}: {text}")
    for v in nets:
        click.echo(f"  its network {v.ip}: {v.reason} — {v.evidence}")
    for v in inside:
        click.echo(f"  {v.ip} inside it: {v.reason} — {v.evidence}")
    if mine:
        click.echo(f"  evidence used: {', '.join(f'{k} ({n})' for k, n in doc['by_origin'].items())}")
        click.echo(f"  kinds: {', '.join(f'{k} {n}' for k, n in doc['by_kind'].items())}")
        click.echo(f"  first seen {doc['first_seen']}, last seen {doc['last_seen']}")
        if doc["accounts"]:
            click.echo(f"  accounts tried: {', '.join(doc['accounts'][:20])}")
        if doc["targets"]:
            click.echo(f"  numbers dialled: {', '.join(doc['targets'][:20])}")
        click.echo("  first events:")
        for e in mine[:5]:
            click.echo("    " + _event_line(e))
    _report_unread(unread, logs)


def _in_net(ip: str | None, net: str) -> bool:
    import ipaddress
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(net)
    except ValueError:
        return False


def _count(items) -> dict[str, int]:  # noqa: ANN001
    from collections import Counter
    return dict(Counter(items).most_common())


def _reader(built: bool) -> str:
    """Which chunk loop read the logs, for the summary line (and why the slow one, if it was)."""
    from .. import compiled

    if built:
        return "compiled log reader"
    return "pure-Python log reader" + (" (SIPWARDEN_PURE)" if compiled.PURE else
                                       ": the compiled one was not built at install (no C compiler?)")

