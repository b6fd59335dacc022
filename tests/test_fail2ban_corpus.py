"""Every sample line of fail2ban's asterisk and freeswitch filters, with the host fail2ban expects.

The samples are read where Debian's fail2ban package installs them (not copied: they are fail2ban's,
GPL data). Their format: `# failJSON: {...}` describes the next non-comment line (`match`, `host`);
`# filterOptions: [...]` applies to the samples after it (the journald block feeds lines with a prefix).
"""

from __future__ import annotations

import json

import pytest

from conftest import FAIL2BAN_LOGS, parse_lines


def _samples(name: str) -> list[dict]:
    path = FAIL2BAN_LOGS / name
    if not path.is_file():
        return []
    out: list[dict] = []
    pending, options = None, [{}]
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# failJSON:"):
            pending = json.loads(line.split(":", 1)[1])
        elif line.startswith("# filterOptions:"):
            options = json.loads(line.split(":", 1)[1])
        elif line.startswith("#") or not line.strip():
            continue
        elif pending is not None:
            out.append({**pending, "lineno": lineno, "line": line, "filter_options": options})
            pending = None
    return out


SAMPLES = [pytest.param(s, id=f"{name}:{s['lineno']}") for name in ("asterisk", "freeswitch") for s in _samples(name)]

# Cases newer fail2ban releases added to their samples, written here in the same shapes.
OWN = [
    ("[Jun 12 15:13:54] NOTICE[3980] res_pjsip_session.c:  anonymous: Call (UDP:203.0.113.41:65049) to extension "
     "'001447441452805' rejected because extension not found in context 'inbound-foo-bar'.", "203.0.113.41"),
    ("[2016-05-06 07:08:09] NOTICE[17103] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '\"t2\" "
     "<sip:t2@198.51.100.9>' failed for '203.0.113.42:5679' (callid: cafe) - No matching endpoint found after 5 "
     "tries in 2.500 ms", "203.0.113.42"),
    ("2021-10-29 21:04:58.150982 00.00% [WARNING] sofia_reg.c:2889 Can't find user [201@::1] from 203.0.113.43",
     "203.0.113.43"),
    ("2021-10-29 21:05:58.894719 www.srv.tld freeswitch[123456]: 2021-10-29 14:13:24.894719 82.43% [WARNING] "
     "sofia_reg.c:2889 Can't find user [201@::1] from 203.0.113.44", "203.0.113.44"),
]


def test_samples_present():
    """Debian 12's fail2ban 1.0.2 has 46 asterisk and 9 freeswitch samples; newer ones have more."""
    assert FAIL2BAN_LOGS.is_dir(), f"{FAIL2BAN_LOGS}: install Debian's fail2ban (scripts/bootstrap --system)"
    assert len(_samples("asterisk")) >= 46
    assert len(_samples("freeswitch")) >= 9
    assert any(not s["match"] for s in _samples("freeswitch"))


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_line(sample):
    events = parse_lines([sample["line"]])
    ips = [e.ip for e in events if e.ip is not None]
    if sample["match"]:
        assert ips == [sample["host"]], events
    else:
        assert ips == [], events


@pytest.mark.parametrize(("line", "host"), OWN)
def test_newer_sample_shapes(line, host):
    assert [e.ip for e in parse_lines([line]) if e.ip is not None] == [host]


def test_journald_prefix_forms():
    # fail2ban feeds the journal samples with a "server asterisk[123]: " prefix; both shapes must work.
    journal = [s for s in _samples("asterisk") for opt in s["filter_options"] if opt.get("logtype") == "journal"]
    assert len(journal) >= 2
    for s in journal:
        for opt in s["filter_options"]:
            line = opt["test.prefix-line"] + s["line"]
            assert [e.ip for e in parse_lines([line])] == [s["host"]]
