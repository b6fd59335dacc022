#!/usr/bin/env python3
"""Seeded generator of a realistic Asterisk `messages` + security log under attack, with labels.

Writes three files for `OUT`:
  OUT               the log: Asterisk file-logger lines (`[Mon DD HH:MM:SS] LEVEL[tid]...`), messages
                    and security events interleaved as with `messages => security,notice,...`
  OUT.labels.tsv    one row per line that names a source: `lineno<TAB>kind<TAB>true_ip`
  OUT.summary.json  parameters, counts per kind and per category

Line formats follow real Asterisk output (see tests/data/asterisk20 and fail2ban's samples):
  classic prefix   `[Nov 24 20:00:09] NOTICE[20023] chan_sip.c: <msg>`
  verbose prefix   `[Nov 24 20:00:09] NOTICE[20023]: chan_sip.c:28468 handle_request_register: <msg>`
  with a call id   `[Nov 24 20:01:00] VERBOSE[20023][C-0000001b] pbx.c: <msg>`
Every kind is listed in KINDS with its category and the sipwarden event kind it should yield:
  failure      an attack line a ban filter must match (fail2ban's asterisk filter targets these)
  attack_info  attacker traffic that is not a failure (security ChallengeSent never answered)
  legit        a real phone proving itself (SuccessfulAuth, Registered SIP)
Lines of kinds not in KINDS are benign noise and carry no label.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import ipaddress
import itertools
import json
import random
import sys
from collections import Counter
from pathlib import Path

GEN_VERSION = 1  # bump when the output for given parameters changes (invalidates bench caches)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# kind -> (weight within its category, category, expected sipwarden Event kind)
KINDS: dict[str, tuple[float, str, str]] = {
    # chan_sip REGISTER failures (alwaysauthreject=no)
    "sip_reg_wrong_password": (12, "failure", "auth_failed"),
    "sip_reg_no_matching_peer": (12, "failure", "unknown_account"),
    "sip_reg_username_mismatch": (2, "failure", "auth_failed"),
    "sip_reg_device_acl": (1, "failure", "acl_failed"),
    "sip_reg_not_supposed": (0.5, "failure", "acl_failed"),
    "sip_call_ext_not_found": (6, "failure", "call_rejected"),
    # PJSIP distributor
    "pjsip_no_matching_endpoint": (14, "failure", "unknown_account"),
    "pjsip_no_matching_endpoint_tries": (6, "failure", "unknown_account"),
    "pjsip_failed_to_authenticate": (10, "failure", "auth_failed"),
    "pjsip_endpoint_acl": (1, "failure", "acl_failed"),
    # res_pjsip_session calls to missing extensions (two layouts)
    "pjsip_call_from_anonymous": (3, "failure", "call_rejected"),
    "pjsip_anonymous_call": (2, "failure", "call_rejected"),
    # security log
    "sec_invalid_account_id": (10, "failure", "unknown_account"),
    "sec_challenge_response_failed": (6, "failure", "auth_failed"),
    "sec_invalid_password": (3, "failure", "auth_failed"),
    "sec_failed_acl": (1.5, "failure", "acl_failed"),
    # AMI, IAX2, FreePBX dialplan
    "ami_failed_auth": (1, "failure", "auth_failed"),
    "ami_nonexistent_user": (0.5, "failure", "unknown_account"),
    "iax2_failed_auth": (1, "failure", "auth_failed"),
    "iax2_no_registration": (0.5, "failure", "unknown_account"),
    "freepbx_rejecting_unknown": (2, "failure", "call_rejected"),
    # attacker traffic that is not a failure line
    "sec_challenge_sent_attacker": (8, "attack_info", "challenge_sent"),
    # real phones
    "sec_successful_auth": (8, "legit", "auth_ok"),
    "sec_challenge_sent_legit": (10, "legit", "challenge_sent"),
    "sip_registered": (2, "legit", "auth_ok"),
}
ATTACK_CATEGORIES = ("failure", "attack_info")
V4_ONLY = frozenset({"iax2_failed_auth", "iax2_no_registration", "ami_failed_auth", "ami_nonexistent_user"})

# benign noise kind -> weight
NOISE: dict[str, float] = {
    "pbx_executing": 30, "app_dial": 9, "bridge": 6, "registrar_contact": 9, "pjsip_options": 5,
    "sip_peer_reachable": 4, "spawn_exit": 3, "hangup": 4, "queue": 2, "retrans_timeout": 1,
    "rtp_short": 1, "sip_invite_noaddr": 1.5, "manager_logon": 0.5, "cdr_warning": 0.5,
    "pjsip_contact_expired": 1, "dialplan_noop": 2,
}

USER_AGENTS = ("friendly-scanner", "sipvicious", "sipcli/v1.8", "VaxSIPUserAgent/3.1", "pplsip", "PortSIP VoIP SDK")
GUESSED = ("100", "101", "1000", "1001", "2000", "201", "admin", "test", "9999", "sales", "support", "operator",
           "00972599580679", "5000", "fax", "1234", "asterisk", "guest")
NUMBER_PREFIXES = ("9011", "00", "011", "+", "900", "9000", "0")
TIDS = (1234, 1237, 2211, 3980, 19388, 20008, 20023, 24501, 29609)


def _cum(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _public_v4(r: random.Random) -> str:
    while True:
        a = ipaddress.IPv4Address(r.randrange(0x01000000, 0xDF000000))
        if a.is_global:
            return str(a)


class Generator:
    """One seeded stream of log lines; `line(i)` returns (text, kind or None, true ip or None)."""

    def __init__(self, lines: int, seed: int, attack_frac: float, v4_attackers: int, v6_attackers: int,
                 zipf: float, verbose_prefix: float, start: str, span_hours: float) -> None:
        self.r = r = random.Random(seed)
        self.lines = lines
        self.attack_frac = attack_frac
        self.verbose_prefix = verbose_prefix
        self.t0 = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC).timestamp()
        self.step = span_hours * 3600.0 / max(lines, 1)
        att4 = [_public_v4(r) for _ in range(v4_attackers)]
        att6 = [f"2001:db8:{r.randrange(1, 0xFFFF):x}:{r.randrange(1, 0xFFFF):x}::{r.randrange(1, 0xFFFF):x}"
                for _ in range(v6_attackers)]
        self.attackers = att4 + att6
        r.shuffle(self.attackers)
        # Zipf-like activity: a few heavy scanners, a long tail of occasional probes
        self.att_cum = _cum([1.0 / (i + 1) ** zipf for i in range(len(self.attackers))])
        self.legit = ([f"192.168.1.{i}" for i in range(20, 80)] + [f"10.0.0.{i}" for i in range(2, 30)]
                      + [f"198.51.100.{i}" for i in range(10, 20)] + [f"2001:db8:cafe::{i:x}" for i in range(1, 5)])
        self.exts = [str(100 + i) for i in range(60)]
        by_cat: dict[str, list[str]] = {}
        for k, (_, cat, _) in KINDS.items():
            by_cat.setdefault(cat, []).append(k)
        self.fail_kinds = by_cat["failure"]
        self.fail_cum = _cum([KINDS[k][0] for k in self.fail_kinds])
        self.legit_kinds = by_cat["legit"]
        self.legit_cum = _cum([KINDS[k][0] for k in self.legit_kinds])
        self.noise_kinds = list(NOISE)
        self.noise_cum = _cum(list(NOISE.values()))
        # each attacker favours a few kinds (a tool hits one stack), so its lines cluster
        self.profile: dict[str, list[str]] = {}
        for ip in self.attackers:
            ks = {self._pick(self.fail_kinds, self.fail_cum) for _ in range(3)}
            if ":" in ip:
                ks = {k for k in ks if k not in V4_ONLY} or {"pjsip_no_matching_endpoint"}
            self.profile[ip] = sorted(ks)
        self.callid = 0x100
        self.last_attacker = self.attackers[0]
        self._ts_cache: tuple[int, str] = (-1, "")

    # --- helpers -------------------------------------------------------------------------------------
    def _pick(self, names: list[str], cum: list[float]) -> str:
        return names[bisect.bisect(cum, self.r.random() * cum[-1])]

    def _ts(self, t: float) -> str:
        s = int(t)
        if s != self._ts_cache[0]:
            d = dt.datetime.fromtimestamp(s, dt.UTC)
            self._ts_cache = (s, f"[{MONTHS[d.month - 1]} {d.day:2d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}]")
        return self._ts_cache[1]

    def _prefix(self, level: str, src: str, lineno: int, func: str, cid: bool = False) -> str:
        """`LEVEL[tid] file.c:` (classic) or `LEVEL[tid]: file.c:NNN func:` (verbose logger format)."""
        r = self.r
        tid = TIDS[r.randrange(len(TIDS))]
        c = f"[C-{self.callid:08x}]" if cid else ""
        if r.random() < self.verbose_prefix:
            return f"{level}[{tid}]{c}: {src}:{lineno} {func}:"
        return f"{level}[{tid}]{c} {src}:"

    def _port(self) -> int:
        return self.r.randrange(1024, 65535)

    def _hp(self, ip: str, bracket_v6: bool = True) -> str:
        """`ip:port` with a random port; IPv6 as `[ip]:port` (or bare `ip:port`, as old pjproject prints it)."""
        if ":" in ip and bracket_v6:
            return f"[{ip}]:{self._port()}"
        return f"{ip}:{self._port()}"

    def _guess(self) -> str:
        r = self.r
        if r.random() < 0.5:
            return GUESSED[r.randrange(len(GUESSED))]
        return str(r.randrange(100, 100000))

    def _number(self) -> str:
        r = self.r
        return NUMBER_PREFIXES[r.randrange(len(NUMBER_PREFIXES))] + str(r.randrange(10 ** 9, 10 ** 12))

    def _event_tv(self, t: float) -> str:
        d = dt.datetime.fromtimestamp(t, dt.UTC)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}+0000"

    # --- attack and legit lines ----------------------------------------------------------------------
    def labelled(self, kind: str, ip: str, t: float) -> str:
        r = self.r
        v6 = ":" in ip
        dom = "203.0.113.5"
        if kind.startswith("sip_reg_"):
            reason = {"sip_reg_wrong_password": "Wrong password", "sip_reg_no_matching_peer": "No matching peer found",
                      "sip_reg_username_mismatch": "Username/auth name mismatch",
                      "sip_reg_device_acl": "Device does not match ACL",
                      "sip_reg_not_supposed": "Peer is not supposed to register"}[kind]
            u = self._guess()
            to = r.choice((f'"{u}"<sip:{u}@{dom}>', f'"{u}" <sip:{u}@{dom}>',
                           f"<sip:{u}@{dom}:5060>"))
            hp = self._hp(ip) if v6 or r.random() < 0.8 else ip
            return self._prefix("NOTICE", "chan_sip.c", 28468, "handle_request_register") + \
                f" Registration from '{to}' failed for '{hp}' - {reason}"
        if kind == "sip_call_ext_not_found":
            self.callid += 1
            hp = self._hp(ip)
            who = r.choice(("", "", "anonymous", self._guess()))
            ctx = r.choice(("default", "from-sip-external", "public"))
            return self._prefix("NOTICE", "chan_sip.c", 26029, "handle_request_invite", cid=True) + \
                f" Call from '{who}' ({hp}) to extension '{self._number()}' rejected because extension not found" \
                f" in context '{ctx}'."
        if kind.startswith("pjsip_") and not kind.startswith("pjsip_call") and kind != "pjsip_anonymous_call":
            method = r.choice(("REGISTER", "REGISTER", "REGISTER", "INVITE", "OPTIONS"))
            u = self._guess()
            frm = r.choice((f'"{u}" <sip:{u}@{dom}>', f"<sip:{u}@{dom}>",
                            f'"{USER_AGENTS[r.randrange(len(USER_AGENTS))]}" <sip:{u}@{dom}>'))
            msg = {"pjsip_no_matching_endpoint": "No matching endpoint found",
                   "pjsip_no_matching_endpoint_tries":
                       f"No matching endpoint found after {r.randrange(2, 40)} tries in {r.random() * 3000:.3f} ms",
                   "pjsip_failed_to_authenticate": "Failed to authenticate",
                   "pjsip_endpoint_acl": "Not match Endpoint ACL"}[kind]
            hp = self._hp(ip, r.random() < 0.5)  # pjproject's src_name is bare v6; newer builds bracket it
            callid = r.choice((str(r.getrandbits(31)), f"{r.randrange(1, 9999)}-{r.randrange(1000, 40000)}@{ip}",
                               f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}@{dom}"))
            return self._prefix("NOTICE", "res_pjsip/pjsip_distributor.c", 676, "log_failed_request") + \
                f" Request '{method}' from '{frm}' failed for '{hp}' (callid: {callid}) - {msg}"
        if kind in ("pjsip_call_from_anonymous", "pjsip_anonymous_call"):
            self.callid += 1
            tr = r.choice(("UDP", "UDP", "TCP"))
            hp = self._hp(ip)
            ctx = r.choice(("default", "from-external", "anonymous"))
            if kind == "pjsip_call_from_anonymous":
                head, tail = f" Call from 'anonymous' ({tr}:{hp})", ""
            else:
                head, tail = f"  anonymous: Call ({tr}:{hp})", ""
            return self._prefix("NOTICE", "res_pjsip_session.c", 3998, "new_invite") + head + \
                f" to extension '{self._number()}' rejected because extension not found in context '{ctx}'.{tail}"
        if kind.startswith("sec_"):
            return self._security(kind, ip, t)
        if kind == "ami_failed_auth":
            return self._prefix("NOTICE", "manager.c", 3021, "authenticate") + \
                f" {ip} failed to authenticate as '{r.choice(('admin', 'manager', 'root', 'asterisk'))}'"
        if kind == "ami_nonexistent_user":
            return self._prefix("NOTICE", "manager.c", 3005, "authenticate") + \
                f" {ip} tried to authenticate with nonexistent user '{r.choice(('opennms', 'monitor', 'cron'))}'"
        if kind == "iax2_failed_auth":
            return self._prefix("NOTICE", "chan_iax2.c", 8123, "register_verify") + \
                f" Host {ip} failed to authenticate as '{self._guess()}'"
        if kind == "iax2_no_registration":
            return self._prefix("NOTICE", "chan_iax2.c", 8850, "update_registry") + \
                f" No registration for peer '{self._guess()}' (from {ip})"
        if kind == "freepbx_rejecting_unknown":
            self.callid += 1
            src = ip if r.random() < 0.5 else self._hp(ip)
            tid = r.choice((1195, 6756, 8447))
            return f'WARNING[{tid}][C-{self.callid:08x}] Ext. s: "Rejecting unknown SIP connection from {src}"'
        if kind == "sip_registered":
            return self._prefix("VERBOSE", "chan_sip.c", 24700, "parse_register_contact") + \
                f" Registered SIP '{self.exts[r.randrange(60)]}' at {ip}:{r.choice((5060, 5061, 40112))}"
        raise ValueError(kind)

    def _security(self, kind: str, ip: str, t: float) -> str:
        r = self.r
        ev = {"sec_invalid_account_id": "InvalidAccountID", "sec_challenge_response_failed": "ChallengeResponseFailed",
              "sec_invalid_password": "InvalidPassword", "sec_failed_acl": "FailedACL",
              "sec_challenge_sent_attacker": "ChallengeSent", "sec_challenge_sent_legit": "ChallengeSent",
              "sec_successful_auth": "SuccessfulAuth"}[kind]
        pjsip = ev in ("ChallengeResponseFailed",) or (ev != "InvalidPassword" and r.random() < 0.6)
        svc = "PJSIP" if pjsip else "SIP"
        legit = kind in ("sec_successful_auth", "sec_challenge_sent_legit")
        acct = self.exts[r.randrange(60)] if legit else (self._guess() if r.random() < 0.8 else "<unknown>")
        if pjsip:
            sess = f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}@{ip if legit else '203.0.113.5'}"
        else:
            sess = f"0x7f{r.getrandbits(40):010x}"
        tr = "UDP" if r.random() < 0.9 else "TCP"
        fam = "IPV6" if ":" in ip else "IPV4"
        local = f"IPV4/{tr}/203.0.113.5/{5070 if pjsip else 5060}"
        version = "1"
        if ev == "ChallengeResponseFailed":
            tail = (f',Challenge="{r.randrange(10 ** 9, 2 * 10 ** 9)}/{r.getrandbits(128):032x}",'
                    f'Response="{r.getrandbits(128):032x}",ExpectedResponse=""')
        elif ev == "InvalidPassword":
            ch = f"{r.getrandbits(32):08x}"
            tail, version = f',Challenge="{ch}",ReceivedChallenge="{ch}",ReceivedHash="{r.getrandbits(128):032x}"', "2"
        elif ev == "FailedACL":
            tail = f',ACLName="{r.choice(("no_extension_match", "domain_must_match", "acl"))}"'
        elif ev == "ChallengeSent":
            tail = f',Challenge="{r.getrandbits(32):08x}"' if svc == "SIP" else ',Challenge=""'
        elif ev == "SuccessfulAuth":
            tail = ',UsingPassword="1"'
        else:
            tail = ""
        sev = "Informational" if ev in ("ChallengeSent", "SuccessfulAuth") else "Error"
        return self._prefix("SECURITY", "res_security_log.c", 0, "security_event_stasis_cb") + \
            f' SecurityEvent="{ev}",EventTV="{self._event_tv(t)}",Severity="{sev}",Service="{svc}",' \
            f'EventVersion="{version}",AccountID="{acct}",SessionID="{sess}",LocalAddress="{local}",' \
            f'RemoteAddress="{fam}/{tr}/{ip}/{self._port()}"{tail}'

    # --- benign noise ----------------------------------------------------------------------------------
    def noise(self, kind: str) -> str:
        r = self.r
        ext = self.exts[r.randrange(60)]
        other = self.exts[r.randrange(60)]
        lip = self.legit[r.randrange(len(self.legit))]
        cid = self.callid
        chan = f"PJSIP/{ext}-{cid:08x}"
        if kind == "pbx_executing":
            if r.random() < 0.08:
                self.callid += 1
                cid = self.callid
                chan = f"PJSIP/{ext}-{cid:08x}"
            app = r.choice((f'Dial("{chan}", "PJSIP/{other},30,tT")', f'Set("{chan}", "CDR(userfield)=out")',
                            f'NoOp("{chan}", "Outbound call")', f'Answer("{chan}", "")',
                            f'Macro("SIP/{ext}-{cid:08x}", "user-callerid,")'))
            return self._prefix("VERBOSE", "pbx.c", 2946, "pbx_extension_helper", cid=True) + \
                f" Executing [{other}@from-internal:{r.randrange(1, 8)}] {app} in new stack"
        if kind == "app_dial":
            m = r.choice((f"Called PJSIP/{other}", f"PJSIP/{other}-{cid:08x} is ringing",
                          f"PJSIP/{other}-{cid + 1:08x} answered {chan}",
                          f"Nobody picked up in {r.randrange(10000, 30000)} ms"))
            return self._prefix("VERBOSE", "app_dial.c", 1234, "wait_for_answer", cid=True) + " " + m
        if kind == "bridge":
            how = r.choice(("joined", "left"))
            return self._prefix("VERBOSE", "bridge_channel.c", 2472, "bridge_channel_internal_join", cid=True) + \
                f" Channel {chan} {how} 'simple_bridge' basic-bridge " \
                f"<{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-{r.getrandbits(16):04x}>"
        if kind == "registrar_contact":
            host = f"[{lip}]" if ":" in lip else lip
            contact = f"sip:{ext}@{host}:{r.choice((5060, 5062, 41234))};transport=UDP"
            m = r.choice((f"Added contact '{contact}' to AOR '{ext}' with expiration of {r.choice((60, 300, 3600))} seconds",
                          f"Refreshed contact '{contact}' on AOR '{ext}' with new expiration of 3600 seconds",
                          f"Removed contact '{contact}' from AOR '{ext}' due to request"))
            return self._prefix("VERBOSE", "res_pjsip_registrar.c", 1245, "register_aor_core") + " " + m
        if kind == "pjsip_options":
            state = r.choice(("Reachable", "Reachable", "Unreachable"))
            return self._prefix("VERBOSE", "res_pjsip/pjsip_options.c", 1234, "sip_options_contact_status_notify_task") + \
                f" Contact {ext}/sip:{ext}@{lip}:5060 is now {state}.  RTT: {r.random() * 80:.3f} msec"
        if kind == "sip_peer_reachable":
            state = r.choice(("Reachable", "Lagged"))
            return self._prefix("NOTICE", "chan_sip.c", 24005, "handle_response_peerpoke") + \
                f" Peer '{ext}' is now {state}. ({r.randrange(1, 2500)}ms / 2000ms)"
        if kind == "spawn_exit":
            return self._prefix("VERBOSE", "pbx.c", 4707, "__ast_pbx_run", cid=True) + \
                f" Spawn extension (from-internal, {other}, {r.randrange(1, 5)}) exited non-zero on '{chan}'"
        if kind == "hangup":
            return self._prefix("VERBOSE", "pbx.c", 4750, "__ast_pbx_run", cid=True) + \
                f" Channel '{chan}' hung up (cause {r.choice((16, 16, 17, 19, 21))})"
        if kind == "queue":
            return self._prefix("NOTICE", "app_queue.c", 4561, "ring_entry") + f" Called PJSIP/{ext}"
        if kind == "retrans_timeout":
            return self._prefix("WARNING", "chan_sip.c", 4067, "retrans_pkt") + \
                f" Retransmission timeout reached on transmission {r.getrandbits(32):08x}@{lip} for seqno 102" \
                " (Critical Request) -- See https://wiki.asterisk.org/wiki/display/AST/SIP+Retransmissions"
        if kind == "rtp_short":
            return self._prefix("WARNING", "res_rtp_asterisk.c", 4810, "ast_rtp_read") + \
                f" RTP Read too short ({r.randrange(1, 12)} bytes) from {lip}:{r.randrange(10000, 20000)}"
        if kind == "sip_invite_noaddr":
            # An unauthenticated INVITE as chan_sip logs it: the address is attacker-written From text.
            self.callid += 1
            ip = self.attackers[r.randrange(len(self.attackers))]
            return self._prefix("NOTICE", "chan_sip.c", 25672, "handle_request_invite", cid=True) + \
                f' Failed to authenticate device "{ext}" <sip:{ext}@{ip}:5063>;' \
                f"tag={r.randrange(1000, 40000)}T{r.randrange(1, 999)} for INVITE, code = -1"
        if kind == "manager_logon":
            return self._prefix("VERBOSE", "manager.c", 7221, "session_do") + " Manager 'admin' logged on from 127.0.0.1"
        if kind == "cdr_warning":
            return self._prefix("WARNING", "cdr.c", 1409, "cdr_object_finalize") + \
                f" CDR for channel '{chan}' has no end time"
        if kind == "pjsip_contact_expired":
            return self._prefix("VERBOSE", "res_pjsip_registrar_expire.c", 122, "expire_contact") + \
                f" Contact {ext}/sip:{ext}@{lip}:5060 has been deleted"
        if kind == "dialplan_noop":
            return self._prefix("VERBOSE", "pbx.c", 2946, "pbx_extension_helper", cid=True) + \
                f' Executing [s@macro-dial-one:{r.randrange(1, 40)}] GotoIf("{chan}", "0?dial") in new stack'
        raise ValueError(kind)

    # --- the stream --------------------------------------------------------------------------------------
    def line(self, i: int) -> tuple[str, str | None, str | None]:
        r = self.r
        t = self.t0 + i * self.step
        x = r.random()
        if x < self.attack_frac:
            if r.random() < 0.6:  # attackers come in bursts
                ip = self.last_attacker
            else:
                ip = self.attackers[bisect.bisect(self.att_cum, r.random() * self.att_cum[-1])]
                self.last_attacker = ip
            if r.random() < 0.12:
                kind = "sec_challenge_sent_attacker"
            elif r.random() < 0.8:
                prof = self.profile[ip]
                kind = prof[r.randrange(len(prof))]
            else:
                kind = self._pick(self.fail_kinds, self.fail_cum)
                if ":" in ip and kind in V4_ONLY:
                    kind = "pjsip_no_matching_endpoint"
            return self._ts(t) + " " + self.labelled(kind, ip, t), kind, ip
        if x < self.attack_frac + 0.08:
            kind = self._pick(self.legit_kinds, self.legit_cum)
            ip = self.legit[r.randrange(len(self.legit))]
            return self._ts(t) + " " + self.labelled(kind, ip, t), kind, ip
        kind = self._pick(self.noise_kinds, self.noise_cum)
        return self._ts(t) + " " + self.noise(kind), None, None


def generate(out: Path, lines: int = 1_000_000, seed: int = 20261124, attack_frac: float = 0.20,
             v4_attackers: int = 300, v6_attackers: int = 20, zipf: float = 1.0, verbose_prefix: float = 0.3,
             start: str = "2026-11-23T19:00:00", span_hours: float | None = None) -> dict:
    """Write OUT, OUT.labels.tsv and OUT.summary.json; return the summary.

    `span_hours` defaults to 24 h per million lines (a constant ~11.6 lines/s), so bigger logs
    cover more time, as a longer-running PBX's would.
    """
    if span_hours is None:
        span_hours = 24.0 * lines / 1_000_000
    params = dict(lines=lines, seed=seed, attack_frac=attack_frac, v4_attackers=v4_attackers,
                  v6_attackers=v6_attackers, zipf=zipf, verbose_prefix=verbose_prefix, start=start,
                  span_hours=span_hours, version=GEN_VERSION)
    g = Generator(lines, seed, attack_frac, v4_attackers, v6_attackers, zipf, verbose_prefix, start, span_hours)
    kinds: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    per_ip: Counter[str] = Counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f, open(str(out) + ".labels.tsv", "w", encoding="utf-8") as lab:
        buf: list[str] = []
        lbuf: list[str] = []
        for i in range(lines):
            text, kind, ip = g.line(i)
            buf.append(text + "\n")
            if kind is not None:
                kinds[kind] += 1
                cat = KINDS[kind][1]
                cats[cat] += 1
                if cat in ATTACK_CATEGORIES:
                    per_ip[ip] += 1  # type: ignore[index]
                lbuf.append(f"{i + 1}\t{kind}\t{ip}\n")
            if len(buf) >= 20000:
                f.write("".join(buf))
                lab.write("".join(lbuf))
                buf.clear()
                lbuf.clear()
        f.write("".join(buf))
        lab.write("".join(lbuf))
    tmp.replace(out)
    summary = {
        "params": params,
        "lines": lines,
        "categories": dict(sorted(cats.items())),
        "attack_lines": cats["failure"] + cats["attack_info"],
        "failure_lines": cats["failure"],
        "attackers_seen": len(per_ip),
        "attackers_seen_ipv6": sum(1 for ip in per_ip if ":" in ip),
        "attack_lines_ipv6": sum(n for ip, n in per_ip.items() if ":" in ip),
        "kinds": dict(sorted(kinds.items())),
        "top10_attackers": per_ip.most_common(10),
    }
    with open(str(out) + ".summary.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def read_labels(path: Path | str) -> dict[int, tuple[str, str]]:
    """`OUT.labels.tsv` as {lineno: (kind, ip)}."""
    labels: dict[int, tuple[str, str]] = {}
    with open(path, encoding="utf-8") as f:
        for row in f:
            n, kind, ip = row.rstrip("\n").split("\t")
            labels[int(n)] = (kind, ip)
    return labels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--attack-frac", type=float, default=0.20, help="share of attacker lines")
    p.add_argument("--v4-attackers", type=int, default=300)
    p.add_argument("--v6-attackers", type=int, default=20)
    p.add_argument("--zipf", type=float, default=1.0, help="attacker activity skew exponent")
    p.add_argument("--verbose-prefix", type=float, default=0.3,
                   help="share of 'LEVEL[tid]: file.c:NNN func:' prefixes")
    p.add_argument("--start", default="2026-11-23T19:00:00", help="UTC time of the first line")
    p.add_argument("--span-hours", type=float, default=None, help="time covered (default: 24 h per 1M lines)")
    a = p.parse_args(argv)
    s = generate(a.out, a.lines, a.seed, a.attack_frac, a.v4_attackers, a.v6_attackers, a.zipf, a.verbose_prefix,
                 a.start, a.span_hours)
    json.dump({k: s[k] for k in ("lines", "categories", "attack_lines", "attackers_seen", "attack_lines_ipv6")},
              sys.stderr)
    sys.stderr.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
