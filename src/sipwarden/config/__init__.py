"""Configuration: the settings (schema.py), the TOML file read and checked (loader.py, checks.py,
fleet.py for the [fleet] table's Redis target). Every setting has a default that matches its
field, and a bad value is one clear error naming the table, the key, what was expected and what
was found.

This package imports nothing of sipwarden above `addr` and `events`: every layer may import it,
so no check of a setting lives in the part that uses it (that was an import cycle).
"""

from __future__ import annotations

from .loader import environment_problems, from_dict, load, validate
from .schema import (
    BanConfig,
    BlocklistsConfig,
    Config,
    ConfigError,
    DaemonConfig,
    DetectConfig,
    FleetConfig,
    HttpConfig,
    LogConfig,
    NotifyConfig,
    WhitelistConfig,
    WireConfig,
    ban_duration,
    duration_seconds,
    is_secret,
    masked,
    read_secret_file,
    redact_url,
)

__all__ = ["BanConfig", "BlocklistsConfig", "Config", "ConfigError", "DaemonConfig", "DetectConfig", "FleetConfig",
           "HttpConfig", "LogConfig", "NotifyConfig", "WhitelistConfig", "WireConfig", "ban_duration",
           "duration_seconds", "environment_problems", "from_dict", "is_secret", "load", "masked",
           "read_secret_file", "redact_url", "validate"]
