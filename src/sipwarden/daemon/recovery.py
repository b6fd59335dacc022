"""Opening the store when it is damaged: a corrupt database file is moved aside (never deleted: it
may be worth a look), a fresh store takes its place, and the bans the firewall holds now are
re-imported, so the daemon comes back protecting with what the kernel still knows. A file from a
newer sipwarden or one that cannot be read for lack of permission is not "corrupt": that refuses
the start (one line) instead.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from ..config import Config
from ..store.sqlite import BanRecord, Store, StoreError
from .lock import StateDirError

log = logging.getLogger("sipwarden")

REIMPORTED = "reimported"


def is_corrupt(path: Path) -> bool:
    """True if SQLite itself says the file is not a sound database (not for a permission problem)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return db.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError as e:
        return "not a database" in str(e) or "malformed" in str(e) or "corrupt" in str(e)
    finally:
        db.close()


def open_store(path: Path, cfg: Config, now: float | None = None) -> Store:
    """The store at `path`; a corrupt one replaced by a fresh one holding the firewall's current bans."""
    try:
        return Store(path)
    except StoreError as e:
        if not path.exists() or not is_corrupt(path):
            raise StateDirError(str(e)) from None
        first = e
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now or time.time()))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, f"{aside}{suffix}")
    store = Store(path)
    held = _firewall_bans(cfg)
    when = now or time.time()
    store.add_bans([BanRecord(ip, REIMPORTED, {"evidence": "re-imported from the firewall: the store was corrupt"},
                              when, exp, False, 1) for ip, exp in sorted(held.items())])
    log.critical("STATE DATABASE CORRUPT: %s (%s) moved aside to %s; started a fresh store and re-imported "
                 "%d ban%s from the firewall (offence history is lost)", path, first, aside.name, len(held),
                 "" if len(held) == 1 else "s")
    return store


def _firewall_bans(cfg: Config) -> dict[str, float | None]:
    from ..enforce import EnforceError, make_enforcer
    try:
        return make_enforcer(cfg.ban).list()
    except EnforceError as e:
        log.error("could not read the firewall's bans to re-import them: %s", e)
        return {}
