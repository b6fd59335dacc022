"""Durable state: bans and their history, read positions of followed logs, event history.

`sqlite.Store` is the embedded default; a fleet backend (Redis) can follow the same interface.
"""

from .sqlite import BanRecord, Store, StoreError

__all__ = ["BanRecord", "Store", "StoreError"]
