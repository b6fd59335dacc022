"""Mail, Telegram, Matrix, ntfy, ... through apprise (one URL scheme per service).

apprise's senders block (SMTP, HTTP): they run on a worker thread so the event loop never waits."""

from __future__ import annotations

import asyncio

import apprise

from ..config import ConfigError, _redact
from .message import Message
from .notifier import Destination


class Apprise(Destination):
    def __init__(self, url: str) -> None:
        self.ap = apprise.Apprise()
        if not self.ap.add(url):
            raise ConfigError(f"notify.apprise: apprise does not understand {_redact(url)}")
        self.name = f"apprise:{_redact(url)}"  # the scheme and host only: these URLs hold passwords

    async def send(self, m: Message) -> None:
        ok = await asyncio.to_thread(self.ap.notify, body=m.text or m.title, title=m.title)
        if not ok:
            raise RuntimeError("apprise could not deliver (see its log lines)")
