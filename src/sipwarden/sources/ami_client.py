"""Asterisk Manager Interface client: security events, live, over one TCP connection (asyncio).

Logs in with `Events: security` (the user needs read=security), sends a Ping every `ping`
seconds so a dead peer is noticed, and reconnects with exponential backoff (capped) whatever
happens: refused, reset, wrong secret, silence. AMI messages go through AmiStream (which holds
the newest message back until the next one starts, to rejoin events split by injected blank
lines); when the stream goes quiet for IDLE seconds it is flushed, so the last event of a burst
is not held until the next one. The address of an event is AMI's RemoteAddress (see
parsers/ami.py for which one is trusted); nothing from the stream can raise out of here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ..events import Event, Kind
from ..parsers.ami import AmiMessage, AmiStream, login_action, ping_action, security_event

log = logging.getLogger("sipwarden")

IDLE = 0.5  # seconds of silence after which the held-back message is released
CONNECT_TIMEOUT = 10.0
LOGIN_TIMEOUT = 10.0
LOGIN_ID = "sipwarden-login"


class AmiLoginError(Exception):
    """The manager refused our login (wrong user or secret, or no read=security)."""


class AmiClient:
    def __init__(self, host: str, port: int, user: str, secret: str, handle: Callable[[list[Event]], None],
                 ping: float = 20.0, backoff: float = 1.0, max_backoff: float = 60.0) -> None:
        self.host, self.port = host, port
        self.user, self.secret = user, secret
        self.handle = handle
        self.ping = ping
        self.backoff, self.max_backoff = backoff, max_backoff
        self.connected = False  # logged in and reading
        self.events = 0  # security events handed on
        self.connects = 0  # successful logins (so reconnects = connects - 1)
        self.errors = 0  # stream errors (oversized lines) and failed sessions
        self.last_error: str | None = None

    async def run(self) -> None:
        """Connect, read, reconnect forever (until cancelled)."""
        delay = self.backoff
        while True:
            try:
                logged_in = await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, AmiLoginError, asyncio.IncompleteReadError) as e:
                logged_in = False
                self._fail(f"{type(e).__name__}: {e}")
            except Exception as e:  # a bug must not end the client: log, back off, retry
                logged_in = False
                self._fail(f"unexpected {type(e).__name__}: {e}")
                log.exception("AMI client")
            finally:
                self.connected = False
            if logged_in:
                delay = self.backoff  # it worked for a while: start the ladder again
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    def _fail(self, why: str) -> None:
        self.errors += 1
        if why != self.last_error:
            log.error("AMI %s:%d: %s; reconnecting with backoff", self.host, self.port, why)
        self.last_error = why

    async def _session(self) -> bool:
        """One connection; True if it logged in (its end is then not the login's fault)."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT)
        stream = AmiStream()
        pinger: asyncio.Task | None = None
        try:
            writer.write(login_action(self.user, self.secret, LOGIN_ID))
            await writer.drain()
            pending = await self._login(reader, stream)
            self.connected = True
            self.connects += 1
            self.last_error = None
            log.info("AMI %s:%d: logged in as %s (security events)", self.host, self.port, self.user)
            pinger = asyncio.create_task(self._pinger(writer))
            self._messages(pending)
            loop = asyncio.get_running_loop()
            last = loop.time()
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(65536), IDLE)
                except TimeoutError:
                    self._messages(stream.flush())  # quiet: release the held-back message
                    if loop.time() - last > 2 * self.ping + 5:  # every Ping gets an answer
                        self._fail("no answer to Ping: connection dead")
                        return True
                    continue
                last = loop.time()
                if not data:
                    self._messages(stream.flush())
                    self._fail("connection closed by the manager")
                    return True
                errors = stream.errors
                self._messages(stream.feed(data))
                self.errors += stream.errors - errors
        finally:
            if pinger is not None:
                pinger.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _login(self, reader: asyncio.StreamReader, stream: AmiStream) -> list[AmiMessage]:
        """Wait for the login's response; return the messages that came with it (already events)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOGIN_TIMEOUT
        while loop.time() < deadline:
            closed = False
            try:
                data = await asyncio.wait_for(reader.read(65536), IDLE)
                closed = not data
                msgs = stream.flush() if closed else stream.feed(data)
            except TimeoutError:
                msgs = stream.flush()
            for i, m in enumerate(msgs):
                if m.get("Response") is not None and m.get("ActionID") == LOGIN_ID:
                    if (m.get("Response") or "").lower() != "success":
                        raise AmiLoginError(f"login refused: {m.get('Message') or m.get('Response')}")
                    return msgs[i + 1:]
            if closed:
                raise ConnectionError("closed before the login was answered")
        raise TimeoutError("no answer to the login")

    async def _pinger(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await asyncio.sleep(self.ping)
                writer.write(ping_action())
                await writer.drain()

    def _messages(self, msgs: list[AmiMessage]) -> None:
        if not msgs:
            return
        events = []
        for m in msgs:
            ev = security_event(m)
            if ev is not None and (ev.ip is not None or ev.kind is Kind.TAMPER):
                events.append(ev)
        if events:
            self.events += len(events)
            self.handle(events)
