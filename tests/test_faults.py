"""Faults an operator's disk and files bring, with real parts: a tmpfs that fills up under the state dir,
a corrupt database, a read-only state dir. Bans must keep reaching the kernel (nftables in a network
namespace) whatever the store does."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from netns import ATK4, ATK4_EXTRA, ATK6, topology, unavailable
from sipwarden.config import BanConfig
from sipwarden.enforce import Ban
from sipwarden.enforce.nftables import NftablesEnforcer
from warden import SIPWARDEN, stop

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]


@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def failures(ip: str, n: int) -> str:
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return "".join(f"[{ts}] NOTICE[1] chan_sip.c: Registration from '<sip:{100 + i}@x>' failed for '{ip}:5060' - "
                   "Wrong password\n" for i in range(n))


class NsDaemon:
    def __init__(self, topo, tmp: Path, state: Path, table: str) -> None:  # noqa: ANN001
        self.topo, self.state, self.table = topo, state, table
        self.log = tmp / "messages"
        self.log.write_text("")
        self.cfg = tmp / "c.toml"
        self.cfg.write_text(f'[log]\ntimezone = "UTC"\n[ban]\ntable = "{table}"\nreconcile_interval = 1.0\n'
                            '[whitelist]\nhost_addresses = false\n')
        self.err = tmp / "d.err"
        self.proc = subprocess.Popen(["ip", "netns", "exec", topo.srv, SIPWARDEN, "run", "--config", str(self.cfg),
                                      "--watch", str(self.log), "--state-dir", str(state)],
                                     stdout=open(self.err, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115

    def sw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SIPWARDEN, *args, "--state-dir", str(self.state)], capture_output=True, text=True,
                              timeout=20)

    def status(self) -> dict:
        r = self.sw("status", "--format", "json")
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def wait(self, cond, what: str, timeout: float = 30) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not cond():
            assert self.proc.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, f"timed out: {what}\n{self.err.read_text()[-3000:]}"
            time.sleep(0.1)

    def in_kernel(self, ip: str) -> bool:
        return self.topo.nft_cmd("get", "element", "inet", self.table, "ban4", f"{{ {ip} }}",
                                 check=False).returncode == 0

    def append(self, text: str) -> None:
        with open(self.log, "a") as f:
            f.write(text)

    def stop(self) -> None:
        stop(self.proc)


def fill(path: Path) -> None:
    """Write until the file system says ENOSPC (tmpfs: whole pages, so nothing is left)."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            while True:
                try:
                    f.write(chunk[:size])
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break


def stored_bans(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT ip FROM bans WHERE ended IS NULL")}
    finally:
        con.close()


def test_full_disk_bans_still_reach_the_kernel_and_writes_resume(tmp_path):
    table = f"swfull{os.getpid()}"
    with tmpfs(tmp_path / "mnt", "3m") as mnt, topology("swf") as topo:
        d = NsDaemon(topo, tmp_path, mnt / "state", table)
        try:
            d.wait(lambda: d.status().get("health") == "ok", "the daemon up and healthy")
            filler = mnt / "filler"
            fill(filler)
            d.append(failures(ATK4, 5))
            d.wait(lambda: d.in_kernel(ATK4), "the ban in the kernel with the disk full")
            d.wait(lambda: d.status().get("health") == "degraded", "status DEGRADED (store)")
            st = d.status()
            assert any(p.startswith("store: writing") for p in st["problems"]), st["problems"]
            assert st["errors"]["store"] >= 1 and st["store"]["delayed_writes"] >= 1
            assert d.sw("status").returncode == 1
            d.append(failures(ATK4_EXTRA[0], 5))  # a second ban while full: kernel yes, log no new error
            d.wait(lambda: d.in_kernel(ATK4_EXTRA[0]), "the second ban in the kernel")
            time.sleep(1.5)  # a few housekeeping writes fail meanwhile
            log = d.err.read_text()
            assert log.count("store: writing") == 1, log  # logged once, counted always
            assert d.status()["errors"]["store"] > st["errors"]["store"]
            assert not {ATK4, ATK4_EXTRA[0]} & stored_bans(mnt / "state" / "sipwarden.db")
            filler.unlink()  # space returns
            d.wait(lambda: d.status().get("health") == "ok", "healthy again once there is space")
            assert {ATK4, ATK4_EXTRA[0]} <= stored_bans(mnt / "state" / "sipwarden.db")
            assert "writes work again" in d.err.read_text()
        finally:
            d.stop()
        assert d.proc.returncode == 0, d.err.read_text()


def test_corrupt_database_moved_aside_and_kernel_bans_reimported(tmp_path):
    table = f"swcor{os.getpid()}"
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "sipwarden.db").write_bytes(b"this is not an SQLite database, it was overwritten\n" * 200)
    with topology("swc") as topo:
        enf = NftablesEnforcer(BanConfig(table=table), topo.srv)
        topo._closers.append(enf.close)
        enf.setup()
        now = time.time()
        enf.ban([Ban(ATK4, now + 600, "bruteforce"), Ban(ATK6, None, "manual")], now)
        d = NsDaemon(topo, tmp_path, state, table)
        try:
            d.wait(lambda: d.status().get("running") is True, "the daemon up on a fresh store")
            log = d.err.read_text()
            assert "STATE DATABASE CORRUPT" in log and "re-imported 2 bans from the firewall" in log
            aside = list(state.glob("sipwarden.db.corrupt-*"))
            assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not an SQLite")
            bans = {b["ip"]: b for b in json.loads(d.sw("bans", "--format", "json").stdout)}
            assert set(bans) == {ATK4, ATK6} and bans[ATK6]["permanent"] and not bans[ATK4]["permanent"]
            assert all(b["reason"] == "reimported" for b in bans.values())
            assert d.in_kernel(ATK4)
        finally:
            d.stop()


def test_read_only_state_dir_refuses_to_start(tmp_path):
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        (mnt / "state").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        (tmp_path / "log").write_text("")
        p = subprocess.run([SIPWARDEN, "run", "--watch", str(tmp_path / "log"), "--state-dir", str(mnt / "state"),
                            "--backend", "dry-run"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, p.stderr
        assert p.stderr.strip().splitlines() == [
            f"Error: state dir {mnt / 'state'} is not writable (Read-only file system): the daemon needs it for its "
            "store, lock and control socket"]
        # a state dir that does not exist yet on a read-only file system: the same one clear line
        p = subprocess.run([SIPWARDEN, "run", "--watch", str(tmp_path / "log"), "--state-dir", str(mnt / "new"),
                            "--backend", "dry-run"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "Read-only file system" in p.stderr and "Traceback" not in p.stderr
