"""The HTTP API (Starlette), served in the daemon's event loop.

    GET    /api/v1/status                      the daemon's status (the same sections as `sipwarden status`)
    GET    /api/v1/bans                        bans in force
    POST   /api/v1/bans      {"ip", "for", "reason", "force"}   a manual ban, through BanService
    DELETE /api/v1/bans/{ip}                   lift a ban, through BanService
    GET    /api/v1/bans/timeline?since=&step=  bans and unbans per interval (the dashboard's chart)
    GET    /api/v1/events?since=&limit=&ip=    the newest events of the history
    GET    /api/v1/timeline?since=&step=       events per interval by kind (the report's timeline shape)
    GET    /api/v1/report?since=               the report's whole document over the store's history
    GET    /api/v1/openapi.json                this, as OpenAPI 3
    GET    /metrics                            Prometheus text format
    GET    /                                   the live dashboard

Security: a write needs `Authorization: Bearer <token>` (compared in constant time), else 401;
reads are open to loopback clients only, others need the token too; bodies are bounded; no CORS
headers are ever sent, so other sites' pages cannot read or write; the token is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..report.aggregate import bans_doc, pick_step, timeline_doc
from .listen import is_loopback
from .openapi import OPENAPI

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KERNEL_WAIT = 2.0  # seconds a write waits for the kernel before answering (it is applied anyway)
MAX_EVENTS = 1000
MAX_SPAN = 14 * 86400.0
REPORT_CACHE = 5.0  # seconds a /api/v1/report answer is reused (several dashboards, one store scan)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _j(data: object, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


class Api:
    def __init__(self, daemon, metrics, token: str | None, max_body: int, dashboard_hours: float) -> None:  # noqa: ANN001
        self.d = daemon
        self.metrics = metrics
        self._token = token.encode() if token else None
        self.max_body = max_body
        self.dashboard_hours = dashboard_hours
        self.counts = {"requests": 0, "unauthorized": 0, "errors": 0}
        self._report: tuple[tuple, float, dict] | None = None

    # -- access ----------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        if self._token is None:
            return False
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    def access(self, request: Request) -> Response | None:
        """None when the request may go on; else the refusal."""
        if request.method in WRITES:
            if not self._authorized(request):
                self.counts["unauthorized"] += 1
                why = "this write needs Authorization: Bearer <token>" if self._token else \
                    "writes are disabled: no http.token_file is configured"
                return JSONResponse({"error": why}, 401, headers={"WWW-Authenticate": 'Bearer realm="sipwarden"'})
            return None
        client = request.client.host if request.client else None
        if request.url.path == "/" or is_loopback(client) or self._authorized(request):
            return None  # the dashboard shell holds no data; it asks for the token when reads need it
        self.counts["unauthorized"] += 1
        return JSONResponse({"error": "reads from beyond loopback need Authorization: Bearer <token>"}, 401,
                            headers={"WWW-Authenticate": 'Bearer realm="sipwarden"'})

    async def body(self, request: Request) -> dict:
        """The JSON object in the body, at most max_body bytes (413 beyond: checked as it arrives)."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            raise HttpError(413, f"body over {self.max_body} bytes")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(415, "send the body as Content-Type: application/json")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > self.max_body:
                raise HttpError(413, f"body over {self.max_body} bytes")
        try:
            doc = json.loads(data, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise HttpError(400, "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise HttpError(400, "the body must be a JSON object")
        return doc

    # -- handlers --------------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        return _j(self.d.status_report())

    async def bans(self, request: Request) -> Response:
        return _j({"bans": [b.to_dict() for b in self.d.bans.active()]})

    async def blocklist_txt(self, request: Request) -> Response:
        """Our bans as a plain blocklist (what `sipwarden bans --format plain` prints) for other hosts."""
        from ..blocklist.export import plain
        return PlainTextResponse(plain([b.to_dict() for b in self.d.bans.active()], self.d.clock()))

    async def ban(self, request: Request) -> Response:
        doc = await self.body(request)
        unknown = sorted(set(doc) - {"ip", "for", "reason", "force"})
        if unknown:
            raise HttpError(400, f"unknown field(s) {', '.join(unknown)}; known: ip, for, reason, force")
        ip = doc.get("ip")
        if not isinstance(ip, str) or not ip.strip():
            raise HttpError(400, "ip: an address or network is required")
        reason = doc.get("reason", "manual")
        if not isinstance(reason, str) or len(reason) > 200:
            raise HttpError(400, "reason: a string of at most 200 characters")
        force = doc.get("force", False)
        if not isinstance(force, bool):
            raise HttpError(400, "force: true or false")
        duration = _duration(doc.get("for"))
        try:
            rec = self.d.bans.manual(ip, duration, reason or "manual", force=force, origin="api")
        except ValueError as e:
            raise HttpError(400, str(e)) from None
        await self._kernel()
        return _j({"ban": rec.to_dict(), "firewall_error": self.d.bans.kernel.error}, 201)

    async def unban(self, request: Request) -> Response:
        target = self.d.bans.target(request.path_params["ip"])
        lifted = self.d.bans.unban(target, by="api")
        await self._kernel()
        return _j({"ip": target, "lifted": lifted, "firewall_error": self.d.bans.kernel.error}, 200 if lifted else 404)

    async def _history(self) -> None:
        """Let the store catch up with the history detection still holds (at most a second's worth),
        so a chart or list read now includes the events that made the latest ban."""
        self.d.detection.flush_history()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(self.d.bans.journal.barrier()), KERNEL_WAIT)

    async def _kernel(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(self.d.bans.kernel.barrier()), KERNEL_WAIT)

    def _span(self, request: Request) -> tuple[float, int]:
        now = self.d.clock()
        since = _number(request.query_params.get("since"), "since")
        if since is None:
            since = now - self.dashboard_hours * 3600
        elif since < 0:  # negative: seconds back from now
            since = now + since
        since = max(since, now - MAX_SPAN)
        step = _number(request.query_params.get("step"), "step")
        want = pick_step(max(now - since, 1), 10)
        return since, int(max(step, want)) if step is not None else want

    async def timeline(self, request: Request) -> Response:
        since, step = self._span(request)
        store = self.d.store
        await self._history()
        rows = await asyncio.to_thread(store.activity, since, self.d.clock() + step, float(step))
        return _j({**timeline_doc(step, rows), "since": since})

    async def ban_timeline(self, request: Request) -> Response:
        since, step = self._span(request)
        now = self.d.clock()
        await self._history()
        bans = await asyncio.to_thread(self.d.store.bans_between, since, None)
        rows = [(b.start, b.ended if b.ended is not None else b.expires) for b in bans]
        starts = [s for s, _ in rows if s >= since]
        ends = [e for _, e in rows if e is not None and since <= e <= now]
        return _j({**bans_doc(step, starts, ends), "since": since})

    async def events(self, request: Request) -> Response:
        since = _number(request.query_params.get("since"), "since")
        limit = _number(request.query_params.get("limit"), "limit")
        limit = int(min(max(limit if limit is not None else 100, 1), MAX_EVENTS))
        ip = request.query_params.get("ip")
        who = self.d.bans.target(ip) if ip else None
        await self._history()
        out = await asyncio.to_thread(self.d.store.events_for, who, since, limit)
        return _j({"events": out})

    async def report(self, request: Request) -> Response:
        """The report's document over the store's history (the dashboard's tables); cached a few seconds."""
        since, _ = self._span(request)
        c = self.d.bans.counts
        key = (int(since // REPORT_CACHE), c["bans"], c["unbans"])  # a new ban is never answered from cache
        if self._report is not None and self._report[0] == key and self.d.clock() - self._report[1] < REPORT_CACHE:
            return _j(self._report[2])
        await self._history()
        from ..report.build import from_store
        doc = await asyncio.to_thread(from_store, self.d.store, self.d.cfg, since, None)
        self._report = (key, self.d.clock(), doc)
        return _j(doc)

    async def openapi(self, request: Request) -> Response:
        return _j(OPENAPI)

    async def prometheus(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST
        return Response(self.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    async def dashboard(self, request: Request) -> Response:
        from .dashboard import CSP, page
        return HTMLResponse(page(self.dashboard_hours), headers={
            "Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    def status_section(self) -> dict:
        return dict(self.counts, token=self._token is not None)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number here")


def _number(text: str | None, name: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        v = float(text)
    except ValueError:
        raise HttpError(400, f"{name}: a number is required, got {text[:40]!r}") from None
    if not math.isfinite(v):
        raise HttpError(400, f"{name}: a finite number is required")
    return v


def _duration(value: object) -> float | None:
    """`for`: seconds, '10m', '2h', '7d', '1h30m', or 'permanent'; default 10 minutes."""
    if value is None:
        return 600.0
    if isinstance(value, bool):
        raise HttpError(400, "for: seconds, 10m, 2h, 7d or permanent")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise HttpError(400, "for: a positive number of seconds")
        return float(value)
    if isinstance(value, str):
        from ..config import ban_duration
        try:
            return ban_duration(value)
        except ValueError as e:
            raise HttpError(400, f"for: {e}") from None
    raise HttpError(400, "for: seconds, 10m, 2h, 7d or permanent")


def make_app(api: Api) -> Starlette:
    def guarded(fn):  # noqa: ANN001, ANN202
        async def handler(request: Request) -> Response:
            api.counts["requests"] += 1
            refused = api.access(request)
            if refused is not None:
                return refused
            try:
                return await fn(request)
            except HttpError as e:
                return JSONResponse({"error": str(e)}, e.status)
            except Exception:  # a request must never take the daemon down
                api.counts["errors"] += 1
                api.d.errors.record("http", f"{request.method} {request.url.path}")
                return JSONResponse({"error": "internal error (logged)"}, 500)
        return handler

    routes = [
        Route("/", guarded(api.dashboard), methods=["GET"]),
        Route("/metrics", guarded(api.prometheus), methods=["GET"]),
        Route("/api/v1/status", guarded(api.status), methods=["GET"]),
        Route("/api/v1/bans", guarded(api.bans), methods=["GET"]),
        Route("/api/v1/bans", guarded(api.ban), methods=["POST"]),
        Route("/api/v1/bans/timeline", guarded(api.ban_timeline), methods=["GET"]),
        Route("/api/v1/blocklist.txt", guarded(api.blocklist_txt), methods=["GET"]),
        Route("/api/v1/bans/{ip:path}", guarded(api.unban), methods=["DELETE"]),
        Route("/api/v1/events", guarded(api.events), methods=["GET"]),
        Route("/api/v1/timeline", guarded(api.timeline), methods=["GET"]),
        Route("/api/v1/report", guarded(api.report), methods=["GET"]),
        Route("/api/v1/openapi.json", guarded(api.openapi), methods=["GET"]),
    ]
    return Starlette(routes=routes)
