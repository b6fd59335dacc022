"""The production install (scripts/install) into a staging root, its systemd unit, and the daemon it
installs running as a non-root user with only CAP_NET_ADMIN, banning in a network namespace.

The install is staged (DESTDIR) so the host's /opt, /etc and users are never touched: the staging root
gets copies of the host's passwd/group files, and `useradd --prefix` writes the user there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO
from netns import ATK4, LEGIT4, SRV4, topology, unavailable
from warden import stop

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

INSTALL = REPO / "scripts" / "install"
PREFIX = "/opt/sipwarden"
NOBODY = 65534


def _install(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DESTDIR": str(root)}
    env.pop("VIRTUAL_ENV", None)
    p = subprocess.run([str(INSTALL), *args], capture_output=True, text=True, timeout=300, env=env)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def staged():
    """One staged install for the module (a world-readable temp root: the daemon runs as nobody from it)."""
    root = Path(tempfile.mkdtemp(prefix="sw-install-"))
    root.chmod(0o755)
    (root / "etc").mkdir()
    for f in ("passwd", "group", "shadow", "gshadow"):
        shutil.copy(f"/etc/{f}", root / "etc" / f)
    with open(root / "etc" / "group", "a") as g:  # Debian's asterisk package makes this group
        if "\nasterisk:" not in "\n" + (root / "etc" / "group").read_text():
            g.write("asterisk:x:64999:\n")
    _install(root, "--with-capture")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _unit(root: Path) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in (root / "etc/systemd/system/sipwarden.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    return keys


def _exposure(*args: str) -> float:
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", *args], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"exposure level for [^:]+: ([0-9.]+)", p.stdout)
    assert m, p.stdout + p.stderr
    return float(m.group(1))


def test_runtime_only_in_its_own_venv(staged):
    venv = staged / PREFIX.lstrip("/")
    site = next((venv / "lib").glob("python3*/site-packages"))
    names = {p.name.lower() for p in site.iterdir()}
    assert "sipwarden" in names and "click" in names
    for tool in ("pytest", "_pytest", "hypothesis", "ruff", "sipvicious"):
        assert tool not in names, f"{tool} installed on a PBX"
    # the venv names its final place, not the staging root, and runs on the system's python
    assert (venv / "bin" / "sipwarden").read_text().splitlines()[0] == f"#!{PREFIX}/bin/python"
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "home = /usr/bin" in cfg and str(staged) not in cfg
    assert not [p for p in (venv / "bin").iterdir() if p.is_file() and str(staged).encode() in p.read_bytes()]
    pyc = next(site.glob("sipwarden/cli/__pycache__/__init__.*.pyc")).read_bytes()  # cli/ is a package
    assert str(staged).encode() not in pyc and f"{PREFIX}/lib".encode() in pyc
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "sipwarden", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "sipwarden, version" in r.stdout, r.stderr
    link = staged / "usr/local/bin/sipwarden"
    assert os.readlink(link) == f"{PREFIX}/bin/sipwarden"


def test_unit_runs_what_the_install_made(staged):
    unit = _unit(staged)
    exe, *args = unit["ExecStart"][0].split()
    assert exe == f"{PREFIX}/bin/sipwarden" and (staged / exe.lstrip("/")).is_file()
    assert args[:2] == ["run", "--config"] and (staged / args[2].lstrip("/")).is_file()
    assert unit["User"] == ["sipwarden"] and unit["Type"] == ["notify"] and unit["UMask"] == ["0077"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"] and unit["AmbientCapabilities"] == ["CAP_NET_ADMIN"]
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert unit["WatchdogSec"] and unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert any(v.startswith("@system-service") for v in unit["SystemCallFilter"])
    # `verify` resolves the executables: the staged copy stands in for /opt/sipwarden
    text = (staged / "etc/systemd/system/sipwarden.service").read_text().replace(PREFIX, f"{staged}{PREFIX}")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "sipwarden.service").write_text(text)
        p = subprocess.run(["systemd-analyze", "verify", str(Path(d) / "sipwarden.service")], capture_output=True,
                           text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), p.stdout + p.stderr
    assert _exposure(str(staged / "etc/systemd/system/sipwarden.service")) <= 2.0
    # with the live-capture drop-in (CAP_NET_RAW, AF_PACKET) it stays under 2.0 too
    drop = (staged / "etc/systemd/system/sipwarden.service.d/live-capture.conf").read_text()
    assert "CAP_NET_RAW" in drop and "AF_PACKET" in drop
    assert _exposure(f"--root={staged}", "sipwarden.service") <= 2.0


def test_system_user_reads_pbx_logs(staged):
    user = next(line for line in (staged / "etc/passwd").read_text().splitlines() if line.startswith("sipwarden:"))
    _, _, uid, _, _, home, shell = user.split(":")
    assert int(uid) < 1000 and home == "/var/lib/sipwarden" and shell == "/usr/sbin/nologin"
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in (staged / "etc/group").read_text().splitlines()}
    assert "sipwarden" in groups["adm"] and "sipwarden" in groups["asterisk"]
    conf = staged / "etc/sipwarden/sipwarden.toml"
    assert conf.stat().st_mode & 0o777 == 0o640
    assert f'{PREFIX}/bin/sipwarden' in os.readlink(staged / "usr/local/bin/sipwarden")


def test_installed_daemon_bans_as_nobody_with_only_cap_net_admin(staged):
    """The unit's identity without systemd: uid nobody, no groups, CAP_NET_ADMIN alone (bounding, ambient),
    no new privileges, /proc mounted subset=pid (ProcSubset=pid), in the lab's server namespace."""
    work = Path(tempfile.mkdtemp(prefix="sw-nobody-"))
    try:
        work.chmod(0o755)
        log, state = work / "messages", work / "state"
        log.write_text("")
        state.mkdir(mode=0o700)
        os.chown(state, NOBODY, NOBODY)
        table = f"swnobody{os.getpid()}"
        cfg = work / "sipwarden.toml"
        cfg.write_text(f'[log]\ntimezone = "UTC"\n[ban]\ntable = "{table}"\nbantime = 300\n')
        python = staged / PREFIX.lstrip("/") / "bin" / "python"
        with topology("swu") as topo:
            err = open(work / "daemon.err", "w")  # noqa: SIM115 - closed below
            inner = (f"mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec setpriv --reuid={NOBODY} "
                     f"--regid={NOBODY} --clear-groups --no-new-privs --inh-caps=-all,+net_admin "
                     f"--ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin {python} -m sipwarden run "
                     f"--config {cfg} --watch {log} --state-dir {state}")
            proc = subprocess.Popen(["ip", "netns", "exec", topo.srv, "unshare", "-m", "--propagation", "private",
                                     "sh", "-c", inner], stdout=err, stderr=err)
            try:
                srv = topo.udp_listener()
                atk = topo.udp_client(topo.atk, ATK4)
                legit = topo.udp_client(topo.legit, LEGIT4)
                deadline = time.monotonic() + 30
                while not (state / "control.sock").exists():
                    assert proc.poll() is None, (work / "daemon.err").read_text()
                    assert time.monotonic() < deadline, (work / "daemon.err").read_text()
                    time.sleep(0.05)
                assert topo.delivered(srv, atk, SRV4, 3) == 3
                ts = time.strftime("%b %e %H:%M:%S", time.gmtime())
                with open(log, "a") as f:
                    f.write("".join(f"[{ts}] NOTICE[1] chan_sip.c: Registration from '<sip:{100 + i}@{SRV4}>' "
                                    f"failed for '{ATK4}:5060' - Wrong password\n" for i in range(5)))
                deadline = time.monotonic() + 30
                while topo.nft_cmd("get", "element", "inet", table, "ban4", f"{{ {ATK4} }}",
                                   check=False).returncode != 0:
                    assert proc.poll() is None and time.monotonic() < deadline, (work / "daemon.err").read_text()
                    time.sleep(0.05)
                assert topo.delivered(srv, atk, SRV4, 3) == 0
                assert topo.delivered(srv, legit, SRV4, 3) == 3
                # it ran as nobody with CAP_NET_ADMIN only, and wrote its store owner-only
                st = Path(f"/proc/{proc.pid}/status").read_text()  # ip netns exec, unshare, sh, setpriv: all exec
                assert re.search(rf"^Uid:\s+{NOBODY}\s", st, re.M), st
                assert re.search(r"^CapEff:\s+0000000000001000$", st, re.M), st
                db = state / "sipwarden.db"
                assert db.stat().st_uid == NOBODY
            finally:
                stop(proc)
                err.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_reinstall_keeps_config_and_uninstall_purge(staged):
    """Last in the module: it takes the staged install down."""
    root = staged
    conf = root / "etc/sipwarden/sipwarden.toml"
    conf.write_text("# edited by the operator\n")
    assert "kept /etc/sipwarden/sipwarden.toml" in _install(root).stdout
    assert conf.read_text() == "# edited by the operator\n"
    out = _install(root, "--uninstall").stdout
    assert "kept /etc/sipwarden" in out
    for gone in (PREFIX, "usr/local/bin/sipwarden", "etc/systemd/system/sipwarden.service"):
        assert not (root / gone.lstrip("/")).exists() and not (root / gone.lstrip("/")).is_symlink(), gone
    assert "\nsipwarden:" not in "\n" + (root / "etc/passwd").read_text()
    assert conf.exists()
    _install(root, "--uninstall", "--purge")
    assert not conf.exists()
    # a PREFIX that is not ours is never deleted
    other = root / "opt" / "other"
    other.mkdir(parents=True)
    (other / "keep").write_text("x")
    p = _install(root, "--prefix=/opt/other", check=False)
    assert p.returncode == 2 and "not a sipwarden venv" in p.stderr and (other / "keep").exists()
