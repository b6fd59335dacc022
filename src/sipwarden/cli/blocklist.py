"""`sipwarden blocklist list|refresh`: what the imported lists hold, and a refresh now.

Both ask the running daemon; with none running, `list` shows the last good copies in the state
dir and `refresh` fetches and loads the kernel sets itself (for a cron job on a host without the
daemon, or to try a new source)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from .common import ask, config_option, format_option, load_config, state_dir_of, state_option


@click.group()
def blocklist() -> None:
    """Imported blocklists ([blocklists] sources: files or http(s) URLs)."""


def _offline(cfg, state: str, refresh: bool) -> dict:  # noqa: ANN001
    from ..blocklist.runtime import Blocklists

    async def go() -> dict:
        b = Blocklists(cfg.blocklists, cfg.ban, cfg.whitelist_set(), Path(state))
        b.load_cache()
        try:
            if refresh:
                return await b.refresh()
            from ..blocklist.runtime import merge  # listing never touches the kernel
            merged, b.dropped, b.cut = merge([s.nets for s in b.lists.values()], b.whitelist, cfg.blocklists.max_entries)
            b.entries = {v: len(n) for v, n in merged.items()}
            return b.status()
        finally:
            if b.kernel is not None:
                b.kernel.close()
    return asyncio.run(go())


def _show(info: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if not info["sources"]:
        click.echo("no blocklists configured ([blocklists] sources)")
        return
    click.echo(f"{_n(info['entries'])} in force ({info['entries_v4']} IPv4, {info['entries_v6']} IPv6)"
               + (f", {info['dropped_over_cap']} over max_entries not loaded" if info["dropped_over_cap"] else "")
               + (f"; KERNEL: {info['kernel_error']}" if info.get("kernel_error") else ""))
    for s in info["sources"]:
        state = "ok"
        if s["error"]:
            state = f"error: {s['error']}" + (" (last good list kept)" if s["fetched"] else "")
        click.echo(f"  {s['source']}: {_n(s['entries'])}, fetched {s['fetched'] or 'never'}; {state}")


def _n(k: int) -> str:
    return f"{k} entr{'y' if k == 1 else 'ies'}"


@blocklist.command("list")
@config_option
@state_option
@format_option
def list_(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """The sources, their entries, when each was last fetched and any error."""
    cfg = load_config(config_path)
    state = state_dir_of(cfg, state_dir)
    reply = ask(state, {"cmd": "blocklist"})
    info = reply["blocklists"] if reply and reply.get("ok") else _offline(cfg, state, refresh=False)
    _show(info, as_json)


@blocklist.command()
@config_option
@state_option
@format_option
def refresh(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Fetch every source now and load the kernel sets (a failed source keeps its last good list)."""
    cfg = load_config(config_path)
    state = state_dir_of(cfg, state_dir)
    if not cfg.blocklists.sources:
        raise click.ClickException("no blocklists configured ([blocklists] sources)")
    from ..daemon.client import request
    try:
        reply = request(state, {"cmd": "blocklist_refresh"}, timeout=cfg.blocklists.timeout * len(cfg.blocklists.sources)
                        + 30)
    except (OSError, ValueError) as e:
        raise click.ClickException(f"control socket in {state}: {e}") from None
    info = reply["blocklists"] if reply and reply.get("ok") else _offline(cfg, state, refresh=True)
    _show(info, as_json)
    if any(s["error"] for s in info["sources"]):
        raise SystemExit(1)
