"""Where the test data is (all inside the repository), and small helpers to parse text."""

from __future__ import annotations

import os
from pathlib import Path

from sipwarden.parsers.stream import LogStream
from sipwarden.timefmt import Clock

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
ASTERISK20 = DATA / "asterisk20"  # real Asterisk 20 runs under attack (tests/data/README.md)
# fail2ban's sample logs, where Debian's fail2ban package installs them (scripts/bootstrap --system).
FAIL2BAN_LOGS = Path(os.environ.get("SIPWARDEN_FAIL2BAN_LOGS",
                                    "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"))


def parse_lines(lines: list[str] | str, year: int = 2026) -> list:
    """All events of a few lines, as a fresh stream would give them."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    p = LogStream(Clock(year))
    out = []
    for i, line in enumerate(lines, 1):
        out.extend(p.feed_line(line, i))
    out.extend(p.close())
    return out


# In CI every capability is installed (scripts/bootstrap --system, root): a skip there means
# something broke (a package, the nftables binding, the corpus), so it must fail the run.
_skipped: list[str] = []


def pytest_runtest_logreport(report):  # noqa: ANN001, ANN201
    if report.skipped and os.environ.get("SIPWARDEN_NO_SKIP") == "1":
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):  # noqa: ANN001, ANN201
    if _skipped and exitstatus == 0:
        print(f"\nSIPWARDEN_NO_SKIP=1 but {len(_skipped)} test(s) were skipped: {', '.join(_skipped[:10])}")
        session.exitstatus = 1
