"""The `sipwarden report` command."""

from __future__ import annotations

import os
import sys
import time

import click

from ..config import ConfigError, load
from .common import OperatorError


@click.command()
@click.option("--html", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this HTML file ('-' for stdout).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--state-dir", default=None, help="Report the daemon's history from this state dir (instead of, "
              "or when no PATH is given, as well as the default state dir).")
@click.option("--since", default=None, metavar="T", help="Only from this time: 2026-11-24, '2026-11-24 20:00', "
              "epoch seconds, or a span back from now (24h, 7d).")
@click.option("--until", default=None, metavar="T", help="Only before this time (same forms as --since).")
@click.option("--audit", "audit_dir", default=None, type=click.Path(exists=True),
              help="Also audit this Asterisk config directory and show the findings.")
@click.argument("paths", nargs=-1)
def report(out: str, config_path: str | None, state_dir: str | None, since: str | None, until: str | None,
           audit_dir: str | None, paths: tuple[str, ...]) -> None:
    """Draw an attack as one self-contained HTML file: timeline, bans, top sources, accounts,
    toll-fraud destinations (and config audit findings).

    Reads PBX logs and captures as `scan` does, or with --state-dir (or no PATH) the daemon's store.
    """
    from ..pipeline.scan import open_inputs
    from ..report import build, html
    from ..sources.logfile import SourceError
    from ..timefmt import tz_from_name

    try:
        cfg = load(config_path)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    if paths and state_dir:
        raise click.UsageError("give log PATHs or --state-dir, not both")
    started = time.perf_counter()
    try:
        tz = tz_from_name(cfg.log.timezone)
        now = time.time()
        lo, hi = build.parse_time(since, tz, now), build.parse_time(until, tz, now)
        if lo is not None and hi is not None and hi <= lo:
            raise build.ReportError("--until must be later than --since")
        findings = build.audit_findings(audit_dir) if audit_dir else None
        if paths:
            try:
                inputs = open_inputs(paths, cfg)
            except SourceError as e:  # a missing or unreadable file: the operator's mistake
                raise OperatorError(str(e)) from None
            doc = build.from_logs(paths, cfg, lo, hi, findings, inputs)
        else:
            doc = _from_state(state_dir or cfg.daemon.state_dir, cfg, lo, hi, findings)
    except (build.ReportError, SourceError) as e:
        raise click.ClickException(str(e)) from None
    text = html.render(doc)
    if out == "-":
        sys.stdout.write(text)
    else:
        tmp = f"{out}.tmp{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, out)
        except OSError as e:
            raise click.ClickException(f"{out}: cannot write: {e.strerror or e}") from None
    size = len(text.encode())
    sm = doc["summary"]
    click.echo(f"sipwarden: report {out}: {size / 1024:,.0f} KB, {sm['events']:,} events, {sm['verdicts']} verdicts, "
               f"{sm['alerts']} compromise alert(s), {len(doc['timeline']['points'])} timeline points, "
               f"in {time.perf_counter() - started:.2f}s", err=True)


def _from_state(state_dir: str, cfg, lo: float | None, hi: float | None, findings):  # noqa: ANN001, ANN202
    from ..daemon import DB_NAME
    from ..report.build import ReportError, from_store
    from ..store.sqlite import Store, StoreError
    path = os.path.join(state_dir, DB_NAME)
    if not os.path.exists(path):
        raise ReportError(f"no daemon history in {state_dir} ({DB_NAME} not found); give log files to read instead")
    try:
        with Store(path) as store:
            return from_store(store, cfg, lo, hi, findings)
    except StoreError as e:
        raise ReportError(str(e)) from None
