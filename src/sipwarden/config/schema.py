"""What the settings are: one frozen dataclass per TOML table, each field with the default that
matches it, and the helpers every layer shares (the operator-facing error, masking secrets,
spans of time). Imports nothing of sipwarden but `addr`: every other layer may import it.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field

from ..addr import AddressSet


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
    """Wire sources for the daemon (see sources/network.py)."""

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




_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> float | None:
    """'600', '10m', '2h', '7d', '1h30m' -> seconds; None if `text` is not such a span."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    parts = _DURATION.findall(t)
    if not parts or "".join(a + b for a, b in parts) != t:
        return None
    return sum(float(a) * _UNIT[b] for a, b in parts)



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


def ban_duration(text: str) -> float | None:
    """A ban's length as an operator writes it (`--for`, the API's `for`): '600', '10m', '2h', '7d',
    '1h30m' -> seconds; 'permanent', 'forever' or '0' -> None. ValueError for anything else."""
    t = text.strip().lower()
    if t in ("permanent", "forever", "0"):
        return None
    secs = duration_seconds(t)
    if secs is None:
        raise ValueError(f"{text!r}: use seconds or 30s, 10m, 2h, 7d, 1h30m, or 'permanent'")
    return secs

