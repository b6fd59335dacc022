"""`sipwarden check-config`: a config checked, and what it points at on this host."""

from __future__ import annotations

import json
import sys

import click

from .common import config_option, format_option, load_config


@click.command("check-config")
@config_option
@format_option
def check_config(config_path: str | None, as_json: bool) -> None:
    """Validate a config file and print the settings in force (secrets masked).

    Exit status: 0 valid; 1 valid, but what it points at is missing here (logs, interfaces, the ban
    command, the state dir: each named); 2 invalid.
    """
    import dataclasses

    from ..config import environment_problems, masked
    cfg = load_config(config_path)
    problems = environment_problems(cfg)
    settings = {section.name: {k: masked(k, list(v) if isinstance(v, tuple) else v)
                               for k, v in dataclasses.asdict(getattr(cfg, section.name)).items()}
                for section in dataclasses.fields(cfg)}
    if as_json:
        click.echo(json.dumps({"config": config_path, "ok": not problems, "problems": problems,
                               "settings": settings}, indent=2))
        sys.exit(1 if problems else 0)
    click.echo(f"{config_path or '(defaults)'}: " + ("valid, but:" if problems else "OK"))
    for problem in problems:
        click.echo(f"  PROBLEM: {problem}")
    for name, values in settings.items():
        click.echo(f"[{name}]")
        for k, v in values.items():
            click.echo(f"  {k} = {json.dumps(v)}")
    sys.exit(1 if problems else 0)
