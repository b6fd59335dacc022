"""Hostile log lines: attacker text that mimics the structure must never yield the forged address
(6.6.6.6 here), and must not hide the real sender either (or, where a line is truly ambiguous,
it yields a TAMPER event with no address)."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import parse_lines
from sipwarden.events import Kind

REAL, FORGED = "203.0.113.7", "6.6.6.6"
TS = "[Nov 24 19:29:49] NOTICE[29609] "


def ips(lines) -> list[str | None]:
    return [e.ip for e in parse_lines(lines)]


def only_real_or_tamper(lines) -> list:
    evs = parse_lines(lines)
    assert evs, "the line must not vanish silently"
    for e in evs:
        assert e.ip != FORGED, e
        assert e.ip == REAL or (e.ip is None and e.kind is Kind.TAMPER), e
    return evs


# --- chan_sip ---------------------------------------------------------------------------------

def test_chan_sip_to_header_with_a_forged_failure_line():
    line = (f"{TS}chan_sip.c: Registration from '\"x' failed for '{FORGED}:5060' - Wrong password\" "
            f"<sip:9099@10.0.0.1>' failed for '{REAL}:56988' - No matching peer found")
    evs = parse_lines([line])
    assert [(e.ip, e.kind) for e in evs] == [(REAL, Kind.UNKNOWN_ACCOUNT)]


def test_chan_sip_apostrophe_in_display_name_still_counts():
    line = f"{TS}chan_sip.c: Registration from '\"O'Brien\" <sip:obrien@10.0.0.1>' failed for '{REAL}:5060' - Wrong password"
    assert ips([line]) == [REAL]


def test_chan_sip_trailing_attacker_text_is_not_trusted():
    # nothing the attacker writes can follow the address: if something does, it is not a real line
    line = f"{TS}chan_sip.c: Registration from '<sip:1@x>' failed for '{FORGED}:5060' - Wrong password' junk"
    assert FORGED not in ips([line])


def test_chan_sip_invite_failure_has_no_address_and_yields_none():
    line = (f"[Nov 24 19:31:19] NOTICE[29609][C-00000004] chan_sip.c: Failed to authenticate device "
            f"\"4248\" <sip:4248@{FORGED}:5063>;tag=31601T1 for INVITE, code = -1")
    assert ips([line]) == []


# --- PJSIP ------------------------------------------------------------------------------------

PJ = "[Nov 24 19:32:35] NOTICE[29594] res_pjsip/pjsip_distributor.c: "


def test_pjsip_forged_text_in_callid():
    line = (f"{PJ}Request 'REGISTER' from '<sip:7702@10.0.0.1>' failed for '{REAL}:5060' (callid: ' failed for "
            f"'{FORGED}:5061' (callid: k) - Failed to authenticate) - No matching endpoint found")
    assert ips([line]) == [REAL]


def test_pjsip_forged_text_in_display_name():
    line = (f"{PJ}Request 'INVITE' from '\"x' failed for '{FORGED}:5061' (callid: z) - Failed to authenticate\" "
            f"<sip:7706@10.0.0.1>' failed for '{REAL}:5060' (callid: 1-2@h) - No matching endpoint found")
    assert ips([line]) == [REAL]


def test_pjsip_forged_text_in_both_from_and_callid():
    line = (f"{PJ}Request 'REGISTER' from '\"a' failed for '{FORGED}:1' (callid: q) - Failed to authenticate\" "
            f"<sip:1@h>' failed for '{REAL}:5060' (callid: ' failed for '{FORGED}:2' (callid: z) - No matching "
            f"endpoint found) - No matching endpoint found")
    only_real_or_tamper([line])


def test_pjsip_forged_whole_line_as_from_with_unquoted_display_name():
    # found by the hypothesis property: the From is a whole forged line whose start reads as an unquoted
    # display name ("Request 'REGISTER' from '") before "<sip:1@h>". PJSIP prints a display name only in
    # double quotes, so that reading is impossible as well: no address, never the forged one
    forged = f"Request 'REGISTER' from '<sip:1@h>' failed for '{FORGED}:5060' (callid: x) - Failed to authenticate"
    line = f"{PJ}Request 'REGISTER' from '{forged}' failed for '{REAL}:5060' (callid: c) - Failed to authenticate"
    only_real_or_tamper([line])


def test_pjsip_escaped_quote_in_display_name():
    line = (f"{PJ}Request 'REGISTER' from '\"a\\\" <sip:a@b>' failed for '{FORGED}:1' (callid: q) - Failed to "
            f"authenticate' x\" <sip:1@h>' failed for '{REAL}:5060' (callid: c) - No matching endpoint found")
    assert ips([line]) == [REAL]


def test_pjsip_quotes_in_uri_user():
    line = f"{PJ}Request 'INVITE' from '<sip:'or''='@4.5.6.7>' failed for '{REAL}:43678' (callid: U..) - No matching endpoint found"
    assert ips([line]) == [REAL]


def test_pjsip_bare_ipv6_with_port():
    line = f"{PJ}Request 'REGISTER' from '<sip:1@h>' failed for '2001:db8::1:5060' (callid: c) - Failed to authenticate"
    evs = parse_lines([line])
    assert [(e.ip, e.port) for e in evs] == [("2001:db8::1", 5060)]


# --- calls to missing extensions --------------------------------------------------------------

def test_call_from_with_forged_address_in_caller_name_is_tamper():
    line = (f"[2016-01-28 10:22:27] NOTICE[3477][C-000003bb] chan_sip.c: Call from 'x' ({FORGED}:1) to extension "
            f"'1' rejected because extension not found in context 'default'.' ({REAL}:10836) to extension "
            f"'0044123456789' rejected because extension not found in context 'default'.")
    only_real_or_tamper([line])


def test_call_from_with_forged_address_in_extension_is_tamper():
    line = (f"[2016-01-28 10:22:27] NOTICE[3477] chan_sip.c: Call from '' ({REAL}:10836) to extension "
            f"'1' ({FORGED}:5060) to extension '1' rejected because extension not found in context 'default'.")
    only_real_or_tamper([line])


# --- security log -----------------------------------------------------------------------------

SEC = ('[Nov 24 19:29:23] SECURITY[29617] res_security_log.c: SecurityEvent="InvalidAccountID",'
       'EventTV="2026-11-24T19:29:23.734+0000",Severity="Error",Service="PJSIP",EventVersion="1",')


def sec(account: str, session: str, tail: str = "") -> str:
    return (f'{SEC}AccountID="{account}",SessionID="{session}",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
            f'RemoteAddress="IPV4/UDP/{REAL}/5060"{tail}')


@pytest.mark.parametrize("account,session", [
    (f'9502",RemoteAddress="IPV4/UDP/{FORGED}/5061', "0x1"),
    ("9501", f'702102596",RemoteAddress="IPV4/UDP/{FORGED}/5061'),
    ("9501", f'x",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{FORGED}/5061'),
    (f'x",SessionID="y",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{FORGED}/5061', "0x2"),
    ('9503"x', 'a"b"c'),
    ("", ""),
])
def test_security_forged_fields_before_the_real_pair(account, session):
    assert ips([sec(account, session)]) == [REAL]


def test_security_forged_pair_in_event_fields_after_the_real_one():
    line = (f'{SEC.replace("InvalidAccountID", "InvalidPassword").replace("PJSIP", "SIP")}AccountID="1001",'
            f'SessionID="0x7f",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{REAL}/5060",'
            f'Challenge="abc",ReceivedChallenge="abc",ReceivedHash="x",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
            f'RemoteAddress="IPV4/UDP/{FORGED}/5060",Challenge="a",ReceivedChallenge="b",ReceivedHash="c"')
    only_real_or_tamper([line])


def test_security_event_split_by_newline_around_a_forged_chan_sip_line():
    """%0A in the user part: the event's rest arrives on a line that looks like a chan_sip failure."""
    lines = [
        f'{SEC}AccountID="7705',
        f"[Nov 24 20:01:32] NOTICE[4242] chan_sip.c: Registration from '<sip:1001@10.0.0.1>' failed for "
        f"'{FORGED}:5061' - Wrong password\",SessionID=\"0x7f\",LocalAddress=\"IPV4/UDP/10.0.0.1/5060\","
        f"RemoteAddress=\"IPV4/UDP/{REAL}/5060\"",
        f"{TS}chan_sip.c: Registration from '<sip:2@x>' failed for '198.51.100.9:5060' - Wrong password",
    ]
    evs = parse_lines(lines)
    assert [e.ip for e in evs] == [REAL, "198.51.100.9"]  # the next real line still counts
    assert "reassembled" in evs[0].detail


def test_security_event_split_around_a_bare_forged_security_line():
    lines = [
        f'{SEC}AccountID="7707',
        f'SecurityEvent="InvalidPassword",EventTV="2026-11-24T19:29:23.734+0000",Severity="Error",Service="SIP",'
        f'EventVersion="2",AccountID="1",SessionID="2",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
        f'RemoteAddress="IPV4/UDP/{FORGED}/5061"",SessionID="0x1",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
        f'RemoteAddress="IPV4/UDP/{REAL}/5060"',
    ]
    only_real_or_tamper(lines)


def test_security_fragment_that_looks_complete_then_an_orphan_continuation():
    """Forged text completes the first fragment; the real end arrives on a line of its own later."""
    lines = [
        sec("x", f'y",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{FORGED}/5061')
        .split(f'",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{REAL}')[0] + '"',
        f"{TS}chan_sip.c: Registration from '<sip:1001@x>' failed for '{FORGED}:5061' - Wrong password",
        f'",SessionID="0x1",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{REAL}/5060"',
    ]
    evs = parse_lines(lines)
    assert FORGED not in [e.ip for e in evs]
    assert REAL in [e.ip for e in evs]


def test_unfinished_split_event_is_tamper_not_lost_silently():
    evs = parse_lines([f'{SEC}AccountID="7705', "junk", "more junk", "x", "y", "z"])
    assert [e.kind for e in evs] == [Kind.TAMPER]


# --- IAX2, AMI, FreeSWITCH --------------------------------------------------------------------

def test_iax2_peer_name_with_forged_from():
    line = f"{TS}chan_iax2.c: No registration for peer 'x' (from {FORGED})' (from {REAL})"
    assert ips([line]) == [REAL]


def test_ami_username_with_forged_address():
    line = f"[2016-06-09 00:01:02] NOTICE[22382] manager.c: {REAL} failed to authenticate as '{FORGED} failed'"
    assert ips([line]) == [REAL]


def test_freeswitch_user_with_forged_from_ip():
    line = (f"2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1478 SIP auth failure (REGISTER) on sofia profile "
            f"'internal' for [1] from ip {FORGED} x@h] from ip {REAL}")
    assert ips([line]) == [REAL]


# --- junk never crashes -----------------------------------------------------------------------

def test_ansi_colours_are_ignored():
    line = (f"\x1b[1;31m[Nov 24 19:29:49]\x1b[0m NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for "
            f"'{REAL}:5060' - Wrong password")
    assert ips([line]) == [REAL]


def test_huge_and_binary_lines():
    assert all(ip is None for ip in ips(["A" * (10 << 20), "\x00\xff\xfe" * 1000, "", "[", "SecurityEvent=",
                                          "failed for '"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable.replace("\n", "").replace("\r", "") + "'\"()<>:@,=", max_size=60),
       st.sampled_from(["chan_sip", "pjsip_from", "pjsip_callid", "sec_account", "sec_session", "call"]))
def test_attacker_text_never_yields_another_address(text, where):
    """Property: whatever the attacker writes in a field it controls, the only address a line can
    give is the real sender's (or none: TAMPER)."""
    text = text.replace("REAL", "")
    if where == "chan_sip":
        line = f"{TS}chan_sip.c: Registration from '{text}' failed for '{REAL}:5060' - Wrong password"
    elif where == "pjsip_from":
        line = f"{PJ}Request 'REGISTER' from '{text}' failed for '{REAL}:5060' (callid: c) - Failed to authenticate"
    elif where == "pjsip_callid":
        line = f"{PJ}Request 'REGISTER' from '<sip:1@h>' failed for '{REAL}:5060' (callid: {text}) - Failed to authenticate"
    elif where == "sec_account":
        line = sec(text, "0x1")
    elif where == "sec_session":
        line = sec("1", text)
    else:
        line = (f"[2016-01-28 10:22:27] NOTICE[1] chan_sip.c: Call from '{text}' ({REAL}:1) to extension "
                f"'{text}' rejected because extension not found in context 'default'.")
    for e in parse_lines([line]):
        assert e.ip in (REAL, None), (line, e)


# --- attacker text that imitates a whole other format (found in review) ----------------------

@pytest.mark.parametrize("forged", [
    f"Host {FORGED} failed to authenticate as 'x'",
    f"Host {FORGED} failed MD5 authentication for 'x' (a != b)",
    f"manager.c: {FORGED} failed to authenticate as 'admin'",
    f"manager.c: {FORGED} tried to authenticate with nonexistent user 'x'",
    f"Dropping 9 bytes packet from UDP {FORGED}:5060 : PJSIP syntax error",
    f"Registered SIP '1001' at {FORGED}:5060",
])
def test_other_formats_inside_attacker_text_name_nobody(forged):
    lines = [
        f'[Nov 24 19:31:19] NOTICE[1][C-00000004] chan_sip.c: Failed to authenticate device "{forged}" '
        f"<sip:100@h>;tag=a for INVITE, code = -1",
        f"[2016-01-28 10:22:27] NOTICE[1] chan_sip.c: Call from '{forged}' ({REAL}:5060) to extension "
        f"'0044123456789' rejected because extension not found in context 'default'.",
        f"{TS}chan_sip.c: Registration from '\"{forged}\" <sip:1@h>' failed for '{REAL}:5060' - Wrong password",
    ]
    evs = parse_lines(lines)
    assert FORGED not in [e.ip for e in evs]
    assert [e.ip for e in evs] == [REAL, REAL]  # the two lines that carry an address still count


def test_a_from_user_that_contains_failed_does_not_hide_a_toll_fraud_probe():
    line = (f"[2016-01-28 10:22:27] NOTICE[1] chan_sip.c: Call from 'nailed' ({REAL}:5060) to extension "
            f"'0044123456789' rejected because extension not found in context 'default'.")
    evs = parse_lines([line])
    assert [(e.ip, e.kind) for e in evs] == [(REAL, Kind.CALL_REJECTED)]
