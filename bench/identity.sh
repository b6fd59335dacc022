#!/usr/bin/env bash
# md5 of the sorted verdicts, and of the sorted events + verdicts, of `sipwarden scan` on the 1M-line
# benchmark log: a refactor or a faster reader must leave both unchanged (SIPWARDEN_PURE=1 checks the
# pure-Python reader). The log is made by bench/scan_vs_fail2ban.py (or bench/gen_asterisk_log.py).
#   bash bench/identity.sh [LOG]
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${1:-bench/out/asterisk-1000000-s20261124-v1.log}
[ -f "$LOG" ] || { echo "identity: no $LOG (bench/scan_vs_fail2ban.py makes it: .venv/bin/python bench/scan_vs_fail2ban.py --runs 1)" >&2; exit 2; }
SW=$PWD/.venv/bin/sipwarden
cd "$(dirname "$LOG")"  # events name their file as given: its base name, wherever the log lies
"$SW" scan --format json "$(basename "$LOG")" 2>/dev/null | sort | md5sum | sed 's/-$/verdicts/'
"$SW" scan --format json --events "$(basename "$LOG")" 2>/dev/null | sort | md5sum | sed 's/-$/events+verdicts/'
