"""extensions.conf as a graph, and the search for the toll-fraud path through it.

A caller who lands in a context can dial anything its patterns accept. The question that costs
money is whether some pattern that accepts an arbitrary number (`_X.`, `_.`, `_9.`, `_00.`, `_N!`)
passes that number (`${EXTEN}`, or a variable or subroutine argument made from it) to Dial() on
a trunk. The search follows `include =>`, static Goto/GotoIf/Gosub/GosubIf/Macro targets and
`Local/...@context` dial strings, carrying which variables hold the caller's digits, and returns
the chain from the landing context to the Dial line so an operator can see and cut it.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from .conf import Conf

NOT_CONTEXTS = frozenset({"general", "globals"})
TRUNK_TECHS = frozenset({"dahdi", "zap", "misdn", "capi", "ooh323", "h323", "motif", "skinny", "unistim"})
PEER_TECHS = frozenset({"sip", "pjsip", "iax2"})
MAX_STATES = 5000


@dataclass(frozen=True)
class Step:
    """One priority line: `exten => pattern,priority,App(args)`."""

    pattern: str
    app: str
    args: str
    file: str
    line: int


@dataclass
class Context:
    name: str
    file: str
    line: int
    includes: list[tuple[str, str, int]] = field(default_factory=list)
    extensions: dict[str, list[Step]] = field(default_factory=dict)


@dataclass
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TollPath:
    """How a landing context reaches Dial on a trunk with a number the caller chose."""

    context: str
    chain: tuple[str, ...]
    dial: Step

    def describe(self) -> str:
        return " -> ".join(self.chain)


def split_args(text: str, sep: str = ",") -> list[str]:
    """Split application arguments on `sep` outside ${...}, $[...] and (...)."""
    out, cur, depth = [], [], 0
    for c in text:
        if c in "{[(":
            depth += 1
        elif c in "}])" and depth > 0:
            depth -= 1
        if c == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return [s.strip() for s in out]


def parse_app(text: str) -> tuple[str, str]:
    """`Dial(SIP/x/${EXTEN},30)` -> ("dial", "SIP/x/${EXTEN},30"); the old `App,args` form too."""
    text = text.strip()
    m = re.match(r"([A-Za-z_]\w*)\s*", text)
    if not m:
        return "", text
    rest = text[m.end():]
    if rest.startswith("("):
        rest = rest[1:-1] if rest.endswith(")") else rest[1:]
    elif rest.startswith(","):
        rest = rest[1:]
    return m.group(1).lower(), rest


def build(conf: Conf) -> Dialplan:
    """Contexts with their includes and steps; same-named sections merge, as Asterisk merges them."""
    plan = Dialplan()
    for s in conf.concrete():
        if s.name.lower() == "globals":
            for v in s.values:
                plan.globals[v.key.upper()] = v.value
            continue
        if s.name.lower() in NOT_CONTEXTS:
            continue
        ctx = plan.contexts.setdefault(s.name, Context(s.name, s.file, s.line))
        last: str | None = None
        for v in s.values:
            if v.key == "include":
                ctx.includes.append((split_args(v.value)[0], v.file, v.line))
            elif v.key in ("exten", "same"):
                parts = split_args(v.value)
                if v.key == "exten":
                    if len(parts) < 3:
                        continue
                    last = parts[0].split("/", 1)[0].strip()
                    prio, rest = parts[1], ",".join(parts[2:])
                else:
                    if last is None or len(parts) < 2:
                        continue
                    prio, rest = parts[0], ",".join(parts[1:])
                if prio.strip().lower() == "hint":
                    continue
                app, args = parse_app(rest)
                ctx.extensions.setdefault(last, []).append(Step(last, app, args, v.file, v.line))
    return plan


def pattern_regex(pattern: str) -> re.Pattern[str] | None:
    """Asterisk extension pattern -> regex (None for a literal extension)."""
    if not pattern.startswith("_"):
        return None
    out, i, p = [], 0, pattern[1:]
    while i < len(p):
        c = p[i].upper()
        if c == "X":
            out.append("[0-9]")
        elif c == "Z":
            out.append("[1-9]")
        elif c == "N":
            out.append("[2-9]")
        elif c == ".":
            out.append(".+")
        elif c == "!":
            out.append(".*")
        elif c == "[":
            j = p.find("]", i)
            if j < 0:
                out.append(re.escape(p[i:]))
                break
            out.append("[" + p[i + 1:j].replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(p[i]))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.I)
    except re.error:
        return None


def open_ended(pattern: str) -> bool:
    """A pattern that accepts numbers of any length: the ones a toll fraudster needs."""
    return pattern.startswith("_") and ("." in pattern or "!" in pattern)


def _matches(pattern: str, exten: str) -> bool:
    rx = pattern_regex(pattern)
    return rx.match(exten) is not None if rx else pattern == exten


_VAR = re.compile(r"\$\{([A-Za-z_][\w]*)")


def _tainted(text: str, tainted: frozenset[str]) -> bool:
    return any(m.group(1).upper().lstrip("_") in tainted for m in _VAR.finditer(text))


def _subst(text: str, globs: dict[str, str]) -> str:
    for _ in range(3):
        new = re.sub(r"\$\{([A-Za-z_]\w*)\}", lambda m: globs.get(m.group(1).upper(), m.group(0)), text)
        if new == text:
            break
        text = new
    return text


def _jump(args: str, here: str) -> tuple[str, str, str] | None:
    """`[context,]exten,priority` (Goto/Gosub target) -> (context, exten, args-in-parens)."""
    inner = ""
    m = re.search(r"\((.*)\)\s*$", args, re.S)
    if m:
        inner, args = m.group(1), args[:m.start()]
    parts = split_args(args)
    if len(parts) >= 3:
        return parts[0], parts[1], inner
    if len(parts) == 2:
        return here, parts[0], inner
    return None


def _targets(step: Step, here: str) -> list[tuple[str, str, str]]:
    """Static jump targets of a step as (context, exten, args)."""
    app, args = step.app, step.args
    if app in ("goto", "gosub"):
        t = _jump(args, here)
        return [t] if t else []
    if app in ("gotoif", "gosubif", "gotoiftime"):
        _, _, branches = args.partition("?")
        out = []
        for b in split_args(branches, ":"):
            t = _jump(b, here) if b else None
            if t:
                out.append(t)
        return out
    if app == "macro":
        parts = split_args(args)
        if parts and parts[0]:
            return [("macro-" + parts[0], "s", ",".join(parts[1:]))]
    return []


def _dial_strings(step: Step, globs: dict[str, str]) -> list[str]:
    if step.app not in ("dial", "queue") or not step.args:
        return []
    first = split_args(step.args)[0]
    return [_subst(d.strip(), globs) for d in first.split("&") if d.strip()]


def _trunk_dial(dial: str, tainted: frozenset[str]) -> bool:
    """Does this dial string send the caller's digits to a trunk (not to a local phone)?"""
    if not _tainted(dial, tainted):
        return False
    tech, _, resource = dial.partition("/")
    t = tech.strip().lower()
    if t in TRUNK_TECHS:
        return True
    if t in PEER_TECHS:
        if "@" in resource:
            return _tainted(resource.split("@", 1)[0], tainted)
        if "/" in resource:
            return _tainted(resource.split("/", 1)[1], tainted)
        return False        # SIP/${EXTEN}: a local peer named by the number
    return tech.strip().startswith("${")  # tech still a variable: unknown, assume a trunk


def _local(dial: str) -> tuple[str, str] | None:
    tech, _, resource = dial.partition("/")
    if tech.strip().lower() != "local" or "@" not in resource:
        return None
    exten, _, ctx = resource.partition("@")
    return ctx.split("/", 1)[0], exten


def toll_paths(plan: Dialplan, start: str, limit: int = 3) -> list[TollPath]:
    """Paths from `start` to a Dial on a trunk of a number the caller chose (at most `limit`)."""
    found: list[TollPath] = []
    # state: (context, exten or None for "any number", variables carrying the caller's digits)
    first = (start, None, frozenset())
    queue: deque[tuple[tuple[str, str | None, frozenset[str]], tuple[str, ...]]] = deque(
        [(first, ())])
    seen = {first}
    dials_seen: set[tuple[str, int]] = set()

    def push(state: tuple[str, str | None, frozenset[str]], chain: tuple[str, ...]) -> None:
        if state not in seen and len(seen) < MAX_STATES:
            seen.add(state)
            queue.append((state, chain))

    while queue and len(found) < limit:
        (name, exten, carried), chain = queue.popleft()
        ctx = plan.contexts.get(name)
        if ctx is None:
            continue
        if exten is None:
            for inc, file, line in ctx.includes:
                push((inc, None, carried), (*chain, f"[{name}] include => {inc} ({file}:{line})"))
        for pattern, steps in ctx.extensions.items():
            if exten is None:
                if not open_ended(pattern):
                    continue
                tainted = carried | {"EXTEN"}
            else:
                if not _matches(pattern, exten):
                    continue
                tainted = carried
            here = (*chain, f"[{name}] {pattern} ({steps[0].file}:{steps[0].line})")
            for step in steps:
                if step.app == "set":
                    name_, _, val = step.args.partition("=")
                    if _tainted(val, tainted):
                        tainted = tainted | {name_.strip().upper().lstrip("_")}
                for dial in _dial_strings(step, plan.globals):
                    loc = _local(dial)
                    if loc is not None:
                        lctx, lext = loc
                        nxt = None if _tainted(lext, tainted) else lext
                        push((lctx, nxt, tainted - {"EXTEN"}), (*here, f"Dial({dial}) ({step.file}:{step.line})"))
                    elif _trunk_dial(dial, tainted) and (step.file, step.line) not in dials_seen:
                        dials_seen.add((step.file, step.line))
                        found.append(TollPath(start, (*here, f"{step.app.capitalize()}({step.args}) "
                                                              f"({step.file}:{step.line})"), step))
                for tctx, text, targs in _targets(step, name):
                    if "${" in tctx:
                        continue
                    keep = tainted - {"EXTEN"}
                    if targs:
                        keep = keep | {f"ARG{i}" for i, a in enumerate(split_args(targs), 1) if _tainted(a, tainted)}
                    nxt = None if _tainted(text, tainted) else text
                    push((tctx, nxt, keep), (*here, f"{step.app.capitalize()}({step.args}) ({step.file}:{step.line})"))
    return found


def reachable_extensions(plan: Dialplan, start: str) -> int:
    """How many extensions a caller landing in `start` can dial directly (following includes)."""
    seen, todo, count = {start}, [start], 0
    while todo:
        ctx = plan.contexts.get(todo.pop())
        if ctx is None:
            continue
        count += len(ctx.extensions)
        for inc, _, _ in ctx.includes:
            if inc not in seen:
                seen.add(inc)
                todo.append(inc)
    return count
