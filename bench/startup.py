"""Start-up of the command line: `sipwarden --help` and `sipwarden scan` on an empty log, whole process.

Runs `python -m sipwarden ...` for this tree and, with --anchor-pythonpath, for another copy of src/
(e.g. the start of issue 13: `git archive 25e95b6 src | tar -x -C bench/out/anchor`), interleaved,
and prints the median wall time of each, the ratio, and which of sipwarden's modules each command
imports (`--help` should import none of the subcommands).

    .venv/bin/python bench/startup.py [--runs 21] [--anchor-pythonpath bench/out/anchor/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {"--help": ["--help"], "scan (empty log)": ["scan", "{empty}"]}
PROBE = ("import runpy, sys\nsys.argv = ['sipwarden', *sys.argv[1:]]\ntry:\n    runpy.run_module('sipwarden', "
         "run_name='__main__')\nexcept SystemExit:\n    pass\nfinally:\n    print(len([m for m in sys.modules if "
         "m.startswith('sipwarden')]), file=sys.stderr)")


def once(pythonpath: str | None, args: list[str]) -> tuple[float, int]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    return took, int(p.stderr.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--anchor-pythonpath", default=None, help="src/ of the version to compare with")
    a = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".log") as empty:
        trees = {"this tree": None} | ({"anchor": a.anchor_pythonpath} if a.anchor_pythonpath else {})
        print(f"== start-up, {a.runs} runs each, interleaved; load {os.getloadavg()[0]:.1f} ==")
        for name, argv in COMMANDS.items():
            argv = [x.format(empty=empty.name) for x in argv]
            times: dict[str, list[float]] = {t: [] for t in trees}
            mods: dict[str, int] = {}
            for _ in range(a.runs):
                for tree, path in trees.items():
                    took, mods[tree] = once(path, argv)
                    times[tree].append(took)
            line = [f"  {name:18s}"]
            for tree in trees:
                line.append(f"{tree}: {statistics.median(times[tree]) * 1000:5.0f} ms median "
                            f"(min {min(times[tree]) * 1000:4.0f}), {mods[tree]} sipwarden modules")
            if len(trees) == 2:
                line.append(f"anchor/this {statistics.median(times['anchor']) / statistics.median(times['this tree']):.2f}x")
            print("; ".join(line))


if __name__ == "__main__":
    main()
