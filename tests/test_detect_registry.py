"""Detectors only detect (issue 13): the registry decides which detector sees which event kinds, a
detector returns findings and never a verdict, a source's evidence strength is one field of its
state applied in one place, and detect/ is a pure core that imports nothing of the I/O around it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwarden.config import DetectConfig
from sipwarden.detect.detector import Finding
from sipwarden.detect.engine import Engine
from sipwarden.detect.registry import CALLER_NAMED, REGISTRY
from sipwarden.events import Event, Kind, Reason
from test_detector_cases import _config, _event, cases, mismatch, run_case

DETECT = Path(__file__).resolve().parent.parent / "src" / "sipwarden" / "detect"


def _run_spied(case: Path, calls: dict[str, int], found: dict[str, int]) -> None:
    """Run `case` with every detector's `observe` checked: it returns a Finding or None, and leaves
    the source's verdict as it was (only the engine decides)."""
    import json

    eng = Engine(_config(case))
    for name, det in eng.detectors.items():
        def spy(src, ev, t, name=name, observe=det.observe):  # noqa: ANN001, ANN202
            before = src.verdict
            f = observe(src, ev, t)
            assert f is None or type(f) is Finding, (name, f)
            assert src.verdict is before, f"{name} made a verdict"
            calls[name] = calls.get(name, 0) + 1
            found[name] = found.get(name, 0) + (f is not None)
            return f
        det.observe = spy  # the instance's own attribute: routed below instead of the class's method
    eng._route_detectors()
    with (case / "events.jsonl").open() as fh:
        eng.feed_many(_event(json.loads(line)) for line in fh if line.strip())
    assert eng.errors == 0


def test_every_registry_entry_decides_some_case() -> None:
    """Dropping any one entry from the registry changes the verdicts of a detector case: no entry is
    dead weight, and the cases hold every detector."""
    for entry in REGISTRY:
        without = tuple(e for e in REGISTRY if e is not entry)
        assert any(mismatch(c, run_case(c, without)) for c in cases()), f"no case needs {entry.name}"


def test_registry_routes_kinds_as_declared() -> None:
    eng = Engine(DetectConfig(canary_accounts=("999",), registrations_from=("192.0.2.0/24",)))
    routed = {k: [o.__self__.__class__.__name__ for o in obs] for k, obs in eng._route.items()}
    # what the operator declared first, then fingerprints, then thresholds, then wider findings
    assert routed[Kind.AUTH_FAILED] == ["Canary", "Outsider", "Scanner", "Rechallenged", "Bruteforce", "Burst",
                                        "DistributedAccount", "DistributedNet"]
    assert routed[Kind.REQUEST] == ["Scanner", "Rechallenged", "WireRate", "WireAccounts", "WireTollfraud", "WireNet"]
    assert routed[Kind.AUTH_OK] == ["Canary", "Outsider", "Rechallenged", "Challenges"]
    assert routed[CALLER_NAMED] == ["Canary"]  # a call from the PBX's own trunk is no evidence
    # off by default: not run at all
    assert [o.__self__.__class__.__name__ for o in Engine()._route[Kind.UNKNOWN_ACCOUNT]] == [
        "Scanner", "Enumeration", "Burst", "DistributedNet"]


def test_a_reload_reroutes_and_keeps_what_detectors_know() -> None:
    """Turning a detector on by a reload (canary_accounts) routes events to it from the next event,
    and the evidence the others gathered is kept (the fifth failure still decides bruteforce)."""
    eng = Engine(DetectConfig())
    touch = Event(1000.0, "192.0.2.9", Kind.UNKNOWN_ACCOUNT, account="999", origin="messages")
    assert eng.feed(touch) == []
    for i in range(4):
        eng.feed(Event(1001.0 + i, "192.0.2.8", Kind.AUTH_FAILED, account="100", origin="messages"))
    eng.reconfigure(DetectConfig(canary_accounts=("999",)), eng.whitelist)
    assert [v.reason for v in eng.feed(touch._replace(time=1010.0))] == [Reason.CANARY]
    out = eng.feed(Event(1011.0, "192.0.2.8", Kind.AUTH_FAILED, account="100", origin="messages"))
    assert [v.reason for v in out] == [Reason.BRUTEFORCE]


def test_detectors_return_findings_and_never_judge() -> None:
    calls: dict[str, int] = {}
    found: dict[str, int] = {}
    for case in cases():
        _run_spied(case, calls, found)
    assert set(calls) == set(found) == {e.name for e in REGISTRY}  # every detector ran on some case...
    assert all(found.values()), found  # ...and found something


def _modules() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text()) for p in sorted(DETECT.glob("*.py"))}


def test_only_the_engine_makes_verdicts_and_only_state_applies_strength() -> None:
    for name, tree in _modules().items():
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        if name not in ("engine.py", "state.py"):
            assert "Verdict" not in names, f"{name} builds verdicts"
        sets_verdict = any(isinstance(t, ast.Attribute) and t.attr == "verdict"
                           for n in ast.walk(tree) if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign)
                           for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))
        assert not sets_verdict or name in ("engine.py", "state.py"), f"{name} decides a source"
        proven_kw = [k for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "proven"]
        assert not proven_kw or name == "state.py", f"{name} sets a verdict's strength"


def test_detect_is_a_pure_core() -> None:
    """detect/ imports the standard library, the vocabulary (events), addresses and its config, and
    itself: no sources, stores, enforcement or interfaces, and no clock."""
    allowed = {"sipwarden.addr", "sipwarden.config", "sipwarden.events"}
    for name, tree in _modules().items():
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.level:
                base = "sipwarden.detect" if n.level == 1 else "sipwarden"
                mod = f"{base}.{n.module}" if n.module else base
                assert mod.startswith("sipwarden.detect") or mod in allowed, (name, mod)
            else:
                mods = [a.name for a in n.names] if isinstance(n, ast.Import) else (
                    [n.module] if isinstance(n, ast.ImportFrom) and n.module else [])
                for m in mods:
                    top = m.split(".")[0]
                    assert top in sys.stdlib_module_names and top not in ("time", "datetime", "os", "socket"), \
                        (name, m)


# --- properties over random event streams ----------------------------------------------------------

IPS = ("192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.7", "2001:db8::5")
STREAM = {"tcp", "tls", "ws", "wss", "sctp", "TCP", "TLS", "WS", "WSS", "SCTP"}
WIRE = {"wire", "hep", "capture"}
EVENTS = st.builds(
    lambda dt, ip, kind, tr, origin, acct, target, method, detail, fp: (dt, Event(
        None, ip, kind, transport=tr, origin=origin, account=acct, target=target, method=method, detail=detail,
        fingerprint=fp)),
    st.sampled_from((0.0, 0.05, 0.5, 3.0)), st.sampled_from(IPS),
    st.sampled_from([k for k in Kind if k is not Kind.TAMPER]),
    st.sampled_from((None, "udp", "tcp", "tcp-unverified", "TLS")),
    st.sampled_from(("messages", "security", "wire", "hep", None)),
    st.sampled_from((None, "100", "101", "102", "103", "104", "999")),
    st.sampled_from((None, None, "0044123456789", "201", "999")),
    st.sampled_from((None, "REGISTER", "INVITE", "OPTIONS")), st.sampled_from((None, "digest")),
    st.sampled_from((None,) * 7 + ("sipvicious",)),
)
LOW = DetectConfig(bruteforce_maxretry=2, enumeration_accounts=2, enumeration_maxretry=3, flood_challenges=3,
                   flood_failures=4, call_maxretry=2, tollfraud_maxretry=1, compromise_failures=1,
                   distributed_sources=2, subnet_sources=2, wire_requests=3, wire_net_requests=4, login_grace=0.0,
                   canary_accounts=("999",))


def _proves(ev: Event) -> bool:
    """The round-trip rule, written out (README "Evidence strength")."""
    return (ev.transport in STREAM or ev.kind in (Kind.AUTH_OK, Kind.AUTH_FAILED)
            or (ev.transport is None and ev.origin not in WIRE))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENTS, max_size=80))
def test_every_verdict_carries_its_sources_proof_and_declared_wins(stream: list) -> None:
    """Whatever decides (a detector's finding, a network, a peer, a compromise), a verdict's `proven`
    is its source's proof so far: the events it sent until it was judged. A canary touched decides
    at once, over every threshold (only a compromise ranks above it)."""
    eng = Engine(LOW)
    proof: dict[str, bool] = {}
    decided: set[str] = set()
    t = 1000.0
    for dt, ev in stream:
        t += dt
        ev = ev._replace(time=t)
        was_decided = ev.ip in decided
        if not was_decided:
            proof[ev.ip] = proof.get(ev.ip, False) or _proves(ev)
        out = eng.feed(ev)
        for v in out:
            owner = ev.ip if "/" in v.ip else v.ip
            assert v.proven is proof[owner], (v, proof)
        decided |= {v.ip for v in out if "/" not in v.ip}
        if not was_decided and ev.kind is not Kind.REQUEST and "999" in (ev.account, ev.target):
            assert [v.reason for v in out if v.ip == ev.ip] in ([Reason.CANARY], [Reason.COMPROMISE]), out
    assert eng.errors == 0
    for v in eng.report():
        if "/" not in v.ip:
            assert v.proven is proof[v.ip], v
