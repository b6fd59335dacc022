"""Engine.feed alone over a log's events: the detectors' per-event cost, apart from parsing.

The events are parsed once (as `sipwarden scan` parses them), then fed to a fresh engine `--runs`
times; prints events/s and microseconds per event (best and median), and the md5 of the sorted
verdicts (which must not change when the detectors are refactored). To compare with another
version of detect/, run it with PYTHONPATH pointing at a copy of src/ holding that version.

    .venv/bin/python bench/engine_feed.py LOG [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import time

from sipwarden.config import Config
from sipwarden.detect.engine import Engine
from sipwarden.pipeline.scan import GC_YOUNG, merged
from sipwarden.sources.logfile import open_log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cfg = Config()
    events = list(merged([open_log(args.log)], cfg, {}))
    gc.freeze()  # the events stay: collections must not walk them on every run
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])  # as `scan` runs the engine
    took = []
    for _ in range(args.runs):
        eng = Engine(cfg.detect, cfg.whitelist_set())
        feed = eng.feed
        gc.collect()
        t0 = time.perf_counter()
        for ev in events:
            feed(ev)
        took.append(time.perf_counter() - t0)
        verdicts = eng.report()
    md5 = hashlib.md5("\n".join(sorted(json.dumps(v.to_dict(), sort_keys=True) for v in verdicts)).encode()).hexdigest()
    best, med = min(took), statistics.median(took)
    print(f"{len(events)} events, {len(verdicts)} verdicts (md5 {md5})")
    print(f"best {best:.3f} s ({len(events) / best:,.0f} events/s, {best / len(events) * 1e6:.3f} us/event), "
          f"median {med:.3f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
