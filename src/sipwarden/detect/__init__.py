"""Pure detection, driven by event time (no clock, no I/O).

- `engine.Engine`: events in, verdicts out. It keeps each source's state, routes each event to the
  detectors the registry names for its kind, and alone turns their findings into verdicts: which
  finding wins, a login after failures (compromise), the login grace, networks and peers judged.
- `registry.REGISTRY`: which detector sees which event kinds, in rank order. A new detector is one
  module here (a class following `detector.Detector`) and one entry there.
- `detector`: the `Detector` protocol (`observe` -> a `Finding` or None; optional `login`, `forget`).
- `state`: a source's evidence (`Source`: counts, windows, failures per account, round-trip proof)
  and what detectors share (`Context`); a verdict is made, and its strength applied, in
  `Source.to_verdict` only.
- the detectors: `declared` (canary, outsider), `scanner`, `bruteforce`, `enumeration`, `tollfraud`,
  `flood` (challenges, burst), `distributed` (account, network), `wire` (what only packets show);
  `window`: the sliding windows they count in.
"""
