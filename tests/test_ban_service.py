"""The one ban path (daemon/bans.py): policy, escalation from in-memory offences, whitelist, the
store (real SQLite) and the kernel (dry-run backend, on its worker thread), listeners, and the
detection's entry (daemon/detection.py). Pure Python, no root: the nftables path is covered by the system tests."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest

from sipwarden.config import BanConfig, Config, WhitelistConfig
from sipwarden.daemon.bans import BanChange, BanService
from sipwarden.daemon.detection import Detection
from sipwarden.daemon.errors import StageErrors
from sipwarden.daemon.service import ban_service
from sipwarden.daemon.status import Status
from sipwarden.detect.engine import Engine
from sipwarden.events import Event, Kind, Reason, Verdict
from sipwarden.store.sqlite import Store

T0 = float(int(time.time()))  # the dry-run backend expires entries by the wall clock
SRC = Path(__file__).resolve().parents[1] / "src" / "sipwarden"


def config(**ban) -> Config:
    return Config(ban=BanConfig(backend="dry-run", **ban),
                  whitelist=WhitelistConfig(addresses=("192.0.2.0/24",), host_addresses=False))


def verdict(ip: str, reason: Reason = Reason.BRUTEFORCE, at: float = T0) -> Verdict:
    return Verdict(ip=ip, reason=reason, at=at, events=5, evidence="5 wrong passwords")


@pytest.fixture
def svc(tmp_path):
    store = Store(tmp_path / "sw.db")
    made: list[BanService] = []

    def make(threaded: bool = True, **ban) -> BanService:
        s = ban_service(config(**ban), store, StageErrors(), threaded=threaded, clock=lambda: T0)
        s.kernel.setup()
        made.append(s)
        return s

    yield make, store
    for s in made:
        s.kernel.close()
        s.journal.close()
    store.close()


def settle(s: BanService) -> None:
    s.kernel.barrier().result(10)
    s.journal.barrier().result(10)


def in_kernel(s: BanService) -> dict:
    return s.kernel.enforcer.list()


def test_automatic_ban_reaches_kernel_store_and_listeners(svc):
    make, store = svc
    s = make()
    seen: list[BanChange] = []
    s.listeners.append(seen.append)
    recs = s.apply([verdict("203.0.113.5"), verdict("192.0.2.9")], T0)
    assert [r.ip for r in recs] == ["203.0.113.5"]  # the whitelisted one is refused
    settle(s)
    assert "203.0.113.5" in in_kernel(s) and "192.0.2.9" not in in_kernel(s)
    assert [b.ip for b in store.active_bans(T0)] == ["203.0.113.5"]
    assert [(c.kind, c.ip, c.origin, c.manual, c.offence) for c in seen] == [("ban", "203.0.113.5", "local", False, 1)]
    assert seen[0].evidence["evidence"] == "5 wrong passwords" and seen[0].expires == T0 + 600


def test_already_banned_counts_no_offence_and_escalation_survives_a_restart(svc):
    make, store = svc
    s = make(bantime=100, increment=2.0, maxtime=10_000)
    s.apply([verdict("203.0.113.5")], T0)
    assert s.apply([verdict("203.0.113.5")], T0 + 1) == []  # already banned: nothing new, no offence
    assert s.offences("203.0.113.5") == 1
    assert s.expire(T0 + 100) == ["203.0.113.5"]
    second = s.apply([verdict("203.0.113.5")], T0 + 200)[0]
    assert second.offence == 2 and second.expires == T0 + 200 + 200
    settle(s)
    again = make(bantime=100, increment=2.0, maxtime=10_000)  # a restart: memory rebuilt from the store
    assert again.load(T0 + 201)[0].ip == "203.0.113.5"
    assert again.offences("203.0.113.5") == 2 and again.is_banned("203.0.113.5", T0 + 201)
    assert [b.offence for b in store.history("203.0.113.5")] == [1, 2]


def test_manual_ban_and_unban(svc):
    make, store = svc
    s = make()
    seen: list[BanChange] = []
    s.listeners.append(seen.append)
    with pytest.raises(ValueError, match="whitelisted"):
        s.manual("192.0.2.9", 60, "typo")
    with pytest.raises(ValueError, match="not an IP"):
        s.manual("not-an-ip", 60)
    r = s.manual("192.0.2.9", None, "trunk gone rogue", force=True, origin="api")
    assert r.manual and r.expires is None
    assert s.unban("192.0.2.9", by="api") is True
    assert s.unban("198.51.100.1") is False  # was not banned: still asked of the kernel, no change
    settle(s)
    assert "192.0.2.9" not in in_kernel(s)
    assert store.active_bans(T0) == [] and store.history("192.0.2.9")[0].ended_by == "api"
    assert [(c.kind, c.origin) for c in seen] == [("ban", "api"), ("unban", "api")]


def test_expiry_ends_bans_in_memory_store_and_kernel(svc):
    make, store = svc
    s = make(bantime=60)
    seen: list[str] = []
    s.listeners.append(lambda c: seen.append(f"{c.kind} {c.ip} {c.origin}"))
    s.apply([verdict("203.0.113.5")], T0)
    s.apply([verdict("203.0.113.6")], T0 + 30)
    assert s.expire(T0 + 59) == []
    assert s.expire(T0 + 60) == ["203.0.113.5"]
    settle(s)
    assert [b.ip for b in s.active(T0 + 61)] == ["203.0.113.6"]
    assert [b.ip for b in store.active_bans(T0 + 61)] == ["203.0.113.6"]
    assert store.history("203.0.113.5")[0].ended_by == "expired"
    assert seen[-1] == "unban 203.0.113.5 expired"


def test_kernel_keeps_the_order_of_bans_and_unbans(svc):
    make, _ = svc
    s = make()
    for _ in range(50):  # ban, lift, ban again ... from the loop without waiting: order must hold
        s.manual("203.0.113.7", 600)
        s.unban("203.0.113.7")
    s.manual("203.0.113.8", 600)
    s.unban("203.0.113.8")
    s.manual("203.0.113.8", 600)
    settle(s)
    k = in_kernel(s)
    assert "203.0.113.7" not in k and "203.0.113.8" in k


def test_a_broken_listener_is_counted_and_the_ban_still_happens(svc):
    make, store = svc
    s = make()

    def broken(c: BanChange) -> None:
        raise RuntimeError("notification service down")

    got: list[str] = []
    s.listeners[:0] = [broken]
    s.listeners.append(lambda c: got.append(c.ip))
    s.apply([verdict("203.0.113.5")], T0)
    settle(s)
    assert got == ["203.0.113.5"] and s.errors.counts["output"] == 1
    assert "203.0.113.5" in in_kernel(s) and store.active_bans(T0)


def failures(ip: str, n: int, t: float = T0) -> list[Event]:
    return [Event(t + i, ip, Kind.AUTH_FAILED, account="100", origin="messages") for i in range(n)]


def test_detection_decides_once_per_turn_and_an_engine_error_loses_only_its_event(svc):
    make, store = svc
    s = make()
    engine = Engine(config().detect, s.policy.whitelist)
    p = Detection(engine, s, s.journal, s.errors, clock=lambda: T0)
    real = engine.feed

    def feed(ev: Event) -> list[Verdict]:
        if ev.ip == "203.0.113.66":
            raise KeyError("detector bug")
        return real(ev)

    engine.feed = feed  # type: ignore[method-assign]

    async def turn() -> None:
        p.feed(failures("203.0.113.5", 5) + failures("203.0.113.66", 1) + failures("203.0.113.6", 3))
        p.feed(failures("203.0.113.6", 2, T0 + 10))  # another source, same turn
        assert s.counts["bans"] == 0  # decided at the end of the turn, not per event
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert p.counts["turns"] == 1 and s.counts["bans"] == 2
    assert s.errors.counts["engine"] == 1
    assert {b.ip for b in s.active()} == {"203.0.113.5", "203.0.113.6"}


def test_status_is_assembled_from_sections():
    st = Status()
    st.add("kernel", lambda: {"queued": 0})
    st.add("fleet", lambda: 1 / 0)
    out = st.report({"running": True})
    assert out["running"] is True and out["kernel"] == {"queued": 0}
    assert "ZeroDivisionError" in out["fleet"]["error"]


# -- one ban path: no other caller of the store's ban writes or the enforcer's ban -------------------

ALLOWED = {
    # store ban writes: the store itself and the daemon's ordered store writer (and, at start, the
    # re-import into a fresh store of the bans the kernel already holds when the old one was corrupt)
    "add_ban": {"store/sqlite.py"}, "add_bans": {"store/sqlite.py", "daemon/journal.py", "daemon/recovery.py"},
    "lift_ban": {"daemon/journal.py"},
    # kernel bans: the backends, the kernel worker, and BanService (which calls the kernel worker)
    "ban": {"enforce/", "daemon/kernel.py", "daemon/bans.py"},
}


def test_one_ban_path():
    wrong = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                if name in ALLOWED and not any(rel.startswith(a) for a in ALLOWED[name]):
                    wrong.append(f"{rel}:{node.lineno} {ast.unparse(node.func)}")
                # unbans: the kernel worker, or BanService.unban (an object called `bans`)
                if (name == "unban" and not rel.startswith(("enforce/", "daemon/kernel.py", "daemon/bans.py"))
                        and not ast.unparse(node.func.value).endswith("bans")):
                    wrong.append(f"{rel}:{node.lineno} {ast.unparse(node.func)}")
    assert wrong == []


def test_a_parser_error_loses_only_its_line(tmp_path, monkeypatch):
    """The log stream fails on a chunk: its lines go through its line entry one by one, and only the
    line that fails there too is lost (each failure counted in errors.parse)."""
    from sipwarden.daemon.logs import LogSources
    from sipwarden.parsers.stream import LogStream

    log = tmp_path / "messages"
    lines = [f"[2026-11-24 12:00:0{i}] NOTICE[1] chan_sip.c: Registration from '<sip:10{i}@x>' failed for "
             f"'203.0.113.{i}:5060' - Wrong password" for i in range(4)]
    lines[2] += " BOOM"
    log.write_text("\n".join(lines) + "\n")
    line_feed = LogStream.feed_line

    def chunk_bug(self, text: str) -> list[Event]:
        raise ValueError("parser bug")

    def line_bug(self, text: str, n: int):  # noqa: ANN001, ANN202
        if "BOOM" in text:
            raise IndexError("parser bug on this line")
        return line_feed(self, text, n)

    monkeypatch.setattr(LogStream, "feed_chunk", chunk_bug)
    monkeypatch.setattr(LogStream, "feed_line", line_bug)
    got: list[Event] = []
    errors = StageErrors()
    src = LogSources([str(log)], "UTC", got.extend, errors, clock=lambda: T0)
    src.files[str(log)].open(None)
    src.read_all()
    assert sorted(e.ip for e in got) == ["203.0.113.0", "203.0.113.1", "203.0.113.3"]
    assert errors.counts["parse"] == 2  # the chunk, then the one line
