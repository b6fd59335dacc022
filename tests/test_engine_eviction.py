"""The engine's bound under a flood of distinct sources: the fast paths a spoofed flood takes (the
probation tier sorted alone; canonical v4 addresses without `ipaddress`) give exactly what the slow
paths give."""

from __future__ import annotations

import ipaddress
import random

from sipwarden.addr import network_of, normalize
from sipwarden.config import DetectConfig
from sipwarden.detect.engine import Engine, _evidence
from sipwarden.events import Event, Kind

KINDS = (Kind.UNKNOWN_ACCOUNT, Kind.CHALLENGE_SENT, Kind.AUTH_FAILED, Kind.AUTH_OK, Kind.ACL_FAILED)


def _expected_survivors(eng: Engine) -> set[str]:
    """What the sweep keeps, by its definition: the least evidence (then the oldest) goes first."""
    keep = int(eng.cfg.max_tracked * 0.75)
    order = sorted(eng.sources.items(), key=lambda kv: (_evidence(kv[1]), kv[1].last))
    return {ip for ip, _ in order[len(order) - keep:]}


def _fill(eng: Engine, rng: random.Random, n: int, repeat: float) -> None:
    """`n` events over 300 /24s (no network verdict settles much), some sources seen again, times
    a little out of order (late lines), every kind of evidence."""
    seen: list[str] = []
    for i in range(n):
        if seen and rng.random() < repeat:
            ip = rng.choice(seen)
        else:
            ip = f"198.18.{rng.randrange(300) % 256}.{rng.randrange(1, 255)}"
            seen.append(ip)
        t = 1000.0 + i * 0.01 + rng.uniform(-0.5, 0.5)
        kind = rng.choice(KINDS)
        eng.feed(Event(t, ip, kind, account=f"{rng.randrange(50)}", transport="udp", origin="security"))


def _forced_sweep_matches(repeat: float, seed: int) -> None:
    rng = random.Random(seed)
    eng = Engine(DetectConfig(max_tracked=10**9))  # filled first, without sweeping...
    _fill(eng, rng, 3000, repeat)
    eng.reconfigure(DetectConfig(max_tracked=len(eng.sources) - 1), eng.whitelist)  # ...then one over the bound
    expected = _expected_survivors(eng)
    eng._sweep(force=True)
    assert set(eng.sources) == expected


def test_forced_sweep_of_a_flood_drops_the_same_sources_as_the_full_sort():
    for seed in range(5):  # mostly one-event sources: the probation tier alone covers the drop
        _forced_sweep_matches(repeat=0.1, seed=seed)


def test_forced_sweep_with_a_small_probation_tier_falls_back_to_the_full_sort():
    for seed in range(5):  # most sources seen again: the drop reaches into the higher tiers
        _forced_sweep_matches(repeat=0.9, seed=seed)


def test_canonical_v4_fast_path_agrees_with_ipaddress():
    rng = random.Random(7)
    octets = [*map(str, range(256)), "256", "300", "00", "01", "007", "099", "1000", "", "-1", " 1", "1 ", "١"]
    texts = [".".join(rng.choice(octets) for _ in range(rng.choice((3, 4, 4, 4, 5)))) for _ in range(50_000)]
    texts += ["1.2.3.4\n", "[192.0.2.1]", "::ffff:192.0.2.1", "2001:db8::1", "192.0.2.1 "]
    for text in texts:
        try:
            a = ipaddress.ip_address(text.strip("[] "))
            want = str(a.ipv4_mapped) if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a.compressed
        except ValueError:
            want = None
        assert normalize(text) == want, text
        if want is not None:
            for p4 in (24, 16):
                net = ipaddress.ip_network(f"{want}/{p4 if ':' not in want else 64}", strict=False)
                assert network_of(want, p4) == str(net), text
