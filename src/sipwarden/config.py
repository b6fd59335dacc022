"""TOML configuration: every setting has a default that matches the field, and a bad value is a
clear error naming the table, the key, what was expected and what was found.

Each table is a frozen dataclass; the loader checks types from the dataclass annotations, so a
new setting is one line here.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .addr import AddressSet


class ConfigError(ValueError):
    """A configuration problem, phrased for the operator."""


@dataclass(frozen=True)
class DetectConfig:
    """Detector thresholds. Windows are in seconds of event time."""

    findtime: float = 600.0  # fail2ban's asterisk jail: 5 failures in 10 minutes
    bruteforce_maxretry: int = 5  # wrong passwords / ACL failures from one source
    stale_factor: int = 4  # failures on an account this source logged into count 1/stale_factor
    login_grace: float = 120.0  # failures each on another account wait this long for logins on them (0: off)
    enumeration_accounts: int = 5  # distinct unknown accounts tried by one source
    enumeration_maxretry: int = 10  # unknown-account failures from one source, distinct or not
    tollfraud_maxretry: int = 2  # rejected calls to international-looking numbers
    call_maxretry: int = 5  # rejected calls of any kind
    flood_challenges: int = 30  # challenges never answered by a successful login...
    flood_window: float = 60.0  # ...within this window
    flood_failures: int = 50  # any failures within flood_burst_window (volume)
    flood_burst_window: float = 10.0
    distributed_sources: int = 10  # distinct sources failing the same account...
    distributed_window: float = 3600.0
    subnet_sources: int = 5  # distinct failing sources in one /24 (v4) or /64 (v6)
    subnet_v4_prefix: int = 24
    subnet_v6_prefix: int = 64
    tollfraud_prefixes: tuple[str, ...] = ("+", "00", "011", "9011", "900", "9000", "000", "0011", "810")
    fingerprints: bool = True  # one request carrying a known attack tool's fingerprint is enough
    max_tracked: int = 50_000  # sources tracked at once (~1.5 KB each); least recently seen are forgotten first
    wire_requests: int = 30  # SIP requests of one method from one source seen on the wire... (pike-like)
    wire_window: float = 2.0  # ...within this many seconds: a flood
    wire_net_requests: int = 300  # requests from one /24 or /64 (2+ sources) within wire_window
    compromise_failures: int = 5  # failed attempts on an account before a login from the same source: cracked
    registrations_from: tuple[str, ...] = ()  # networks phones register from; any auth attempt elsewhere: ban (off: empty)
    canary_accounts: tuple[str, ...] = ()  # accounts no phone uses (admin, 100, ...): the first touch is a ban (off: empty)


@dataclass(frozen=True)
class LogConfig:
    timezone: str = "local"  # zone of timestamps that carry none (Asterisk's default has no zone)
    year: int = 0  # year for timestamps without one; 0 = the file's modification year


@dataclass(frozen=True)
class WhitelistConfig:
    addresses: tuple[str, ...] = ()  # addresses and CIDR networks never reported or banned
    host_addresses: bool = True  # the daemon also never bans the host's own addresses


@dataclass(frozen=True)
class BanConfig:
    bantime: float = 600.0  # first ban, seconds
    increment: float = 2.0  # each repeat offence multiplies the ban by this...
    maxtime: float = 7 * 86400.0  # ...up to this
    backend: str = "nftables"  # nftables | ipset | command | dry-run
    command: str = ""  # for backend=command: program run as `command ban|unban ADDRESS SECONDS`
    command_timeout: float = 10.0  # seconds one run of `command` may take before it is killed
    ports: tuple[int, ...] = (5060, 5061)  # protected ports; empty = all traffic from a banned source
    ratelimit: int = 0  # nftables first line: new SIP requests/s per source above which packets drop (0 = off)
    reconcile_interval: float = 30.0  # seconds between kernel/store reconciliations
    table: str = "sipwarden"  # nftables table name (inet family)
    unproven_factor: float = 0.25  # bans on UDP evidence with no round trip (could be forged) last this much


@dataclass(frozen=True)
class DaemonConfig:
    watch: tuple[str, ...] = ()  # log files to follow
    state_dir: str = "/var/lib/sipwarden"


@dataclass(frozen=True)
class WireConfig:
    """Wire sources for the daemon (see sources/wire_runtime.py)."""

    hep: tuple[str, ...] = ()  # [ADDR:]PORT to collect HEP on (UDP and TCP); "[::]:9060" for IPv6
    hep_password: str = ""  # HEP auth key (chunk 14); datagrams with another are counted and dropped
    hep_password_file: str = ""  # ...or read from this file (first line), so it is not in the config
    capture: tuple[str, ...] = ()  # interfaces to capture SIP on (AF_PACKET, root)
    capture_ports: tuple[int, ...] = (5060, 5061)  # SIP ports for the capture filter; empty = any SIP-looking UDP
    ami: str = ""  # HOST:PORT of an Asterisk Manager Interface to read security events from
    ami_user: str = ""
    ami_secret: str = ""
    ami_secret_file: str = ""  # ...or read from this file (first line): not in the config, not in `ps`
    ami_ping: float = 20.0  # seconds between keep-alive Pings
    pbx_addresses: tuple[str, ...] = ()  # the PBX's own addresses (never banned; also learnt from traffic)


@dataclass(frozen=True)
class FleetConfig:
    """Sharing bans and counts with other nodes through Redis (see fleet/)."""

    redis: str = ""  # redis://[user@]HOST:PORT/DB or rediss:// (TLS); empty = no fleet
    sentinels: tuple[str, ...] = ()  # HOST:PORT of Redis Sentinels: used instead of redis's host and port
    sentinel_service: str = "mymaster"  # the master's name in Sentinel
    node: str = ""  # this node's name in the fleet (default: the host name)
    password_file: str = ""  # file holding the Redis password (never on the command line)
    ca_file: str = ""  # CA bundle to check the server of a rediss:// URL (default: the system's)
    prefix: str = "sipwarden"  # key prefix: several fleets can share one Redis
    share_events: bool = True  # fleet-wide counting: publish failures, feed the others' into the detectors
    publish_only: bool = False  # share this node's bans and events, apply nobody else's
    accept_reasons: tuple[str, ...] = ()  # fleet bans applied only for these reasons (empty = all)
    max_bans_per_minute: int = 10_000  # fleet bans applied per minute; beyond, logged and counted, not applied
    stream_maxlen: int = 100_000  # entries kept in each Redis stream (approximate trimming)
    queue_max: int = 10_000  # bans (and 5x events) held while Redis is unreachable; oldest dropped beyond


@dataclass(frozen=True)
class BlocklistsConfig:
    """Address lists imported from files or URLs (see blocklist/)."""

    sources: tuple[str, ...] = ()  # paths or http(s) URLs: plain (IP/CIDR per line, # comments) or JSON
    interval: float = 3600.0  # seconds between refreshes
    max_entries: int = 200_000  # entries kept over all lists; the rest are dropped (logged)
    max_bytes: int = 32 << 20  # a source larger than this is refused (the last good list stays)
    timeout: float = 30.0  # seconds a download may take


@dataclass(frozen=True)
class HttpConfig:
    """The daemon's HTTP side: API, Prometheus metrics, live dashboard (see api/)."""

    listen: str = ""  # ADDR:PORT to serve on ("127.0.0.1:9180"); empty = no HTTP
    token_file: str = ""  # file holding the bearer token writes need (and reads from beyond loopback)
    max_body: int = 16384  # bytes a request body may have
    dashboard_hours: float = 6.0  # how far back the dashboard's charts look


@dataclass(frozen=True)
class NotifyConfig:
    """Notifications (see notify/): compromise at once, bans as a digest, firewall, start/stop."""

    webhook: tuple[str, ...] = ()  # URLs that get a JSON POST (Slack/Mattermost-compatible "text")
    apprise: tuple[str, ...] = ()  # apprise URLs: mailto://, tgram://, matrix://, ntfy://, ...
    digest_interval: float = 60.0  # seconds: ban digests are sent at most this often
    queue: int = 256  # messages waiting per destination; beyond that they are dropped (counted)
    retries: int = 4  # more tries of a failed send, with backoff
    backoff: float = 2.0  # seconds before the first retry; doubles each time (at most 60 s)
    timeout: float = 10.0  # seconds one send may take


@dataclass(frozen=True)
class Config:
    detect: DetectConfig = field(default_factory=DetectConfig)
    log: LogConfig = field(default_factory=LogConfig)
    whitelist: WhitelistConfig = field(default_factory=WhitelistConfig)
    ban: BanConfig = field(default_factory=BanConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    wire: WireConfig = field(default_factory=WireConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    blocklists: BlocklistsConfig = field(default_factory=BlocklistsConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    def whitelist_set(self) -> AddressSet:
        """Never reported or banned: the configured whitelist and the PBX's own addresses."""
        return AddressSet(self.whitelist.addresses + self.wire.pbx_addresses)


SECRET_KEY = re.compile(r"secret|password|passwd|token|api_?key|credential", re.I)
URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*:[^/@\s]*(?=@)")


def is_secret(key: str) -> bool:
    """A setting whose value is a secret (by its name; `..._file` names a file, not a secret)."""
    return bool(SECRET_KEY.search(key)) and not key.endswith("_file")


# settings whose values are URLs that are secrets as a whole (a webhook's path, a bot token)
SECRET_URL_KEYS = frozenset({"webhook", "apprise"})


def masked(key: str, value: typing.Any) -> typing.Any:
    """A value as it may be shown or logged: secrets as `********`, passwords inside URLs too."""
    if is_secret(key) and value:
        return "********"
    if key in SECRET_URL_KEYS and isinstance(value, tuple | list):
        return [redact_url(str(v)) for v in value]
    if isinstance(value, str):
        return URL_CREDENTIALS.sub("********", value)
    if isinstance(value, tuple | list):
        return [masked(key, v) for v in value]
    return value


def read_secret_file(where: str, path: str) -> str:
    """The secret in `path` (its first line, without the line break). ConfigError if unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.readline().rstrip("\r\n")
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"{where}: {path} is empty")
    return text


def _secret_files(cfg: Config) -> Config:
    """Fill `ami_secret` / `hep_password` from their `_file` settings (one or the other, not both)."""
    w, changes = cfg.wire, {}
    for key in ("ami_secret", "hep_password"):
        path = getattr(w, f"{key}_file")
        if not path:
            continue
        if getattr(w, key):
            raise ConfigError(f"wire.{key} and wire.{key}_file: give one or the other")
        changes[key] = read_secret_file(f"wire.{key}_file", path)
    return dataclasses.replace(cfg, wire=dataclasses.replace(w, **changes)) if changes else cfg


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# float settings that are spans of time: they also take "90s", "10m", "1h30m", "7d", "2w"
DURATION_KEYS = re.compile(r"(time|window|findtime|interval|timeout)$")


def duration_seconds(text: str) -> float | None:
    """'600', '10m', '2h', '7d', '1h30m' -> seconds; None if `text` is not such a span."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    parts = _DURATION.findall(t)
    if not parts or "".join(a + b for a, b in parts) != t:
        return None
    return sum(float(a) * _UNIT[b] for a, b in parts)


def _coerce(where: str, typ: typing.Any, value: typing.Any) -> typing.Any:
    origin = typing.get_origin(typ)
    if typ is float and isinstance(value, str) and DURATION_KEYS.search(where):
        secs = duration_seconds(value)
        if secs is None:
            raise ConfigError(f"{where}: expected seconds or a span like 90s, 10m, 1h30m, 7d, got {value!r}")
        return secs
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        (inner, _) = typing.get_args(typ)
        if isinstance(value, list):
            return tuple(_coerce(f"{where}[{i}]", inner, v) for i, v in enumerate(value))
    else:  # pragma: no cover - a setting with a type the loader does not know
        raise TypeError(typ)
    name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(typ, "a list")
    raise ConfigError(f"{where}: expected {name}, got {masked(where, value)!r}")


def _section(name: str, cls: type, data: typing.Any) -> typing.Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"[{name}] unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: _coerce(f"{name}.{k}", hints[k], v) for k, v in data.items()}
    obj = cls(**values)
    for f in dataclasses.fields(cls):
        v = getattr(obj, f.name)
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise ConfigError(f"{name}.{f.name}: must not be negative, got {v}")
    return obj


def from_dict(data: dict) -> Config:
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}")
    cfg = _secret_files(Config(**{k: _section(k, hints[k], v) for k, v in data.items()}))
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    try:
        cfg.whitelist_set()
    except ValueError as e:
        raise ConfigError(f"whitelist.addresses: {e}") from None
    if cfg.ban.backend not in ("nftables", "ipset", "command", "dry-run"):
        raise ConfigError(f"ban.backend: expected nftables, ipset, command or dry-run, got {cfg.ban.backend!r}")
    if cfg.ban.backend == "command" and not cfg.ban.command:
        raise ConfigError("ban.command: required when ban.backend = \"command\"")
    from .enforce import EnforceError, check_names
    try:
        check_names(cfg.ban)
    except EnforceError as e:
        raise ConfigError(str(e)) from None
    for p in cfg.ban.ports:
        if not 0 < p < 65536:
            raise ConfigError(f"ban.ports: {p} is not a port number")
    d = cfg.detect
    try:
        AddressSet(d.registrations_from)
    except ValueError as e:
        raise ConfigError(f"detect.registrations_from: {e}") from None
    for k in ("compromise_failures", "bruteforce_maxretry", "enumeration_accounts", "enumeration_maxretry", "tollfraud_maxretry",
              "call_maxretry", "flood_challenges", "flood_failures", "distributed_sources", "subnet_sources",
              "stale_factor", "max_tracked"):
        if getattr(d, k) < 1:
            raise ConfigError(f"detect.{k}: must be at least 1, got {getattr(d, k)}")
    for k in ("findtime", "flood_window", "flood_burst_window", "distributed_window"):
        if getattr(d, k) <= 0:
            raise ConfigError(f"detect.{k}: must be a positive number of seconds, got {getattr(d, k)}")
    if not 0 <= d.login_grace <= d.findtime:
        raise ConfigError(f"detect.login_grace: must be 0 (off) or seconds up to findtime, got {d.login_grace}")
    if not 8 <= d.subnet_v4_prefix <= 32 or not 16 <= d.subnet_v6_prefix <= 128:
        raise ConfigError("detect.subnet_v4_prefix must be 8..32 and detect.subnet_v6_prefix 16..128")
    if d.wire_requests < 1 or d.wire_net_requests < 1 or d.wire_window <= 0:
        raise ConfigError("detect.wire_requests and wire_net_requests must be at least 1, wire_window positive")
    if not 0 < cfg.ban.unproven_factor <= 1:
        raise ConfigError(f"ban.unproven_factor: must be in (0, 1], got {cfg.ban.unproven_factor}")
    from .sources.endpoints import check_wire
    check_wire(cfg.wire)
    from .fleet.settings import check_fleet
    check_fleet(cfg.fleet)
    from .blocklist.sources import check_blocklists
    check_blocklists(cfg.blocklists)
    if cfg.http.listen:
        from .api.listen import parse_listen
        parse_listen(cfg.http.listen)
    if cfg.notify.digest_interval < 1 or cfg.notify.queue < 1 or cfg.notify.timeout <= 0:
        raise ConfigError("notify.digest_interval must be at least 1 s, notify.queue at least 1, notify.timeout positive")
    for u in cfg.notify.webhook:
        if not u.startswith(("http://", "https://")):
            raise ConfigError(f"notify.webhook: {redact_url(u)} is not an http:// or https:// URL")
    if cfg.log.timezone not in ("local", "UTC", "utc"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(cfg.log.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"log.timezone: unknown time zone {cfg.log.timezone!r}") from None


def environment_problems(cfg: Config) -> list[str]:
    """What a valid config points at that is not there on this host (for `check-config`): watched
    logs that are missing or unreadable, capture interfaces that do not exist, a ban command that
    cannot run, a state dir that cannot be made. The daemon copes with each (it retries), but an
    operator wants to know now."""
    import os
    import shlex
    import shutil
    out = []
    for path in cfg.daemon.watch:
        if not os.path.exists(path):
            parent = os.path.dirname(path) or "."
            why = "missing (its directory exists: followed once it appears)" if os.path.isdir(parent) else \
                f"missing, and so is its directory {parent}"
            out.append(f"daemon.watch: {path}: {why}")
        elif not os.access(path, os.R_OK):
            out.append(f"daemon.watch: {path}: not readable by this user (the daemon's user needs group adm "
                       "or asterisk)")
        elif os.path.isdir(path):
            out.append(f"daemon.watch: {path}: a directory; give the log files in it")
    for iface in cfg.wire.capture:
        if iface != "any" and not os.path.exists(f"/sys/class/net/{iface}"):
            out.append(f"wire.capture: no interface {iface!r} on this host")
    if cfg.ban.backend == "command":
        prog = shlex.split(cfg.ban.command)[0]
        if not (shutil.which(prog) if "/" not in prog else os.access(prog, os.X_OK)):
            out.append(f"ban.command: {prog}: not found or not executable")
    state = cfg.daemon.state_dir
    probe = state
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    if os.path.exists(state) and not os.path.isdir(state):
        out.append(f"daemon.state_dir: {state}: not a directory")
    elif probe and not os.access(probe, os.W_OK | os.X_OK):
        out.append(f"daemon.state_dir: {state}: not writable by this user ({probe})")
    return out


def load(path: str | Path | None) -> Config:
    """Load a TOML file (None: all defaults). Raises ConfigError with the file name on any problem."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    try:
        return from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def redact_url(url: str) -> str:
    """A URL fit for an error message or a log: notification URLs carry secrets (tokens, passwords,
    a bot token where the host would be), so only the scheme and a plain host name are kept."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(not a URL)"
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    name, colon, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if colon and port.isdigit():
        host = name
    elif colon:
        host = ""
    plain = host and (host.startswith("[") or "." in host or host == "localhost")
    return f"{scheme}://{host if plain else '***'}/..."
