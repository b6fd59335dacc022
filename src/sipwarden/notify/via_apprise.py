"""Mail, Telegram, Matrix, ntfy, ... through apprise (one URL scheme per service).

apprise's senders block (SMTP, HTTP): they run on a worker thread so the event loop never waits."""

from __future__ import annotations

import asyncio
import logging
import re

import apprise

from ..config import ConfigError, redact_url
from .message import Destination, Message

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)


class _Redact(logging.Filter):
    """apprise logs whole URLs (with their tokens and passwords): only scheme and host go to our log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _URL.sub(lambda m: redact_url(m.group(0)), record.getMessage())
        record.args = None
        return True


logging.getLogger("apprise").addFilter(_Redact())


class Apprise(Destination):
    def __init__(self, url: str) -> None:
        self.ap = apprise.Apprise()
        if not self.ap.add(url):
            raise ConfigError(f"notify.apprise: apprise does not understand {redact_url(url)}")
        self.name = f"apprise:{redact_url(url)}"  # the scheme and host only: these URLs hold passwords

    async def send(self, m: Message) -> None:
        ok = await asyncio.to_thread(self.ap.notify, body=m.text or m.title, title=m.title)
        if not ok:
            raise RuntimeError("apprise could not deliver (see its log lines)")
