"""Where toll-fraud probes tried to call: dialled numbers -> destination countries (phonenumbers).

Attackers dial through whatever outside-line habit they guess (`9011...`, `900...`, `00...`,
`+...`): each international prefix the detector knows is tried, longest first, and the first
reading that is a valid number in the numbering plan wins (else a merely possible one, else the
country code alone: fraudsters dial made-up numbers behind premium country codes). What no plan
explains is counted as unknown, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import phonenumbers

# Outside-line digits and international prefixes seen in probes, on top of the detector's list.
EXTRA_PREFIXES = ("9011", "9000", "900", "011", "00", "+")


def _candidates(number: str, prefixes: Iterable[str]) -> list[str]:
    digits = "".join(c for c in number if c.isdigit() or c == "+")
    seen = []
    for p in sorted(set(prefixes) | set(EXTRA_PREFIXES), key=len, reverse=True):
        if digits.startswith(p) and len(digits) - len(p) >= 6:
            rest = digits[len(p):].lstrip("+")
            if rest and rest[0] != "0" and rest not in seen:
                seen.append(rest)
    return seen


@lru_cache(maxsize=65536)
def destination(number: str, prefixes: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(region code, country name) of a dialled number, or None when no numbering plan fits."""
    possible = coded = None
    for rest in _candidates(number, prefixes):
        try:
            n = phonenumbers.parse("+" + rest, None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(n):
            return _name(n)
        if possible is None and phonenumbers.is_possible_number(n):
            possible = n
        if coded is None and phonenumbers.region_code_for_country_code(n.country_code) != "ZZ":
            coded = n
    best = possible or coded
    return _name(best) if best is not None else None


def _name(n: phonenumbers.PhoneNumber) -> tuple[str, str]:
    """(ISO region code, what to call it). Country names are left to the page (the browser's
    Intl.DisplayNames): phonenumbers' geocoder would cost 100 MB of memory for them."""
    region = phonenumbers.region_code_for_number(n) or phonenumbers.region_code_for_country_code(n.country_code)
    if region == "001":  # non-geographic: satellite, international networks
        return f"+{n.country_code}", f"international network (+{n.country_code})"
    return region, region


def by_country(numbers: Mapping[str, int], prefixes: tuple[str, ...] = ()) -> dict:
    """{countries: [{code, country, calls, numbers, examples}], unknown: {calls, numbers}} by calls."""
    out: dict[str, dict] = {}
    unknown = {"calls": 0, "numbers": 0, "examples": []}
    for num, calls in numbers.items():
        where = destination(num, prefixes)
        if where is None:
            unknown["calls"] += calls
            unknown["numbers"] += 1
            if len(unknown["examples"]) < 5:
                unknown["examples"].append(num)
            continue
        row = out.setdefault(where[0], {"code": where[0], "country": where[1], "calls": 0, "numbers": 0,
                                         "examples": []})
        row["calls"] += calls
        row["numbers"] += 1
        if len(row["examples"]) < 5:
            row["examples"].append(num)
    return {"countries": sorted(out.values(), key=lambda r: (-r["calls"], r["code"])), "unknown": unknown}
