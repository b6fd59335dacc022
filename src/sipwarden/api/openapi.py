"""The API described as OpenAPI 3.0 (served at /api/v1/openapi.json)."""

from __future__ import annotations

from .. import __version__

_ERR = {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_AUTH = {"401": {"description": "no or wrong bearer token", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}}


def _q(name: str, desc: str, typ: str = "number") -> dict:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": typ}}


def _ok(desc: str, schema: dict) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


_SINCE = _q("since", "epoch seconds; negative: seconds back from now (default: the dashboard's hours)")
_STEP = _q("step", "bucket width in seconds (default: chosen for the span, at most 1,500 buckets)")

OPENAPI: dict = {
    "openapi": "3.0.3",
    "info": {"title": "sipwarden daemon API", "version": __version__,
             "description": "Reads are open to loopback clients; every write, and reads from beyond loopback, "
                            "need `Authorization: Bearer <token>` (http.token_file)."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            "Ban": {"type": "object", "properties": {
                "ip": {"type": "string"}, "reason": {"type": "string"}, "evidence": {"type": "object"},
                "start": {"type": "string", "format": "date-time"},
                "expires": {"type": "string", "format": "date-time", "nullable": True},
                "permanent": {"type": "boolean"}, "manual": {"type": "boolean"}, "offence": {"type": "integer"}}},
            "BanRequest": {"type": "object", "required": ["ip"], "properties": {
                "ip": {"type": "string", "description": "address or network (CIDR)"},
                "for": {"oneOf": [{"type": "number"}, {"type": "string"}],
                        "description": "seconds, or 30s, 10m, 2h, 7d, 1h30m, permanent (default 10m)"},
                "reason": {"type": "string", "maxLength": 200},
                "force": {"type": "boolean", "description": "ban even a whitelisted address or a very wide network"}}},
            "Timeline": {"type": "object", "properties": {
                "step": {"type": "integer"}, "since": {"type": "number"},
                "kinds": {"type": "array", "items": {"type": "string"}},
                "points": {"type": "array", "description": "[bucket start (epoch s), count of kinds[0], ...]",
                           "items": {"type": "array", "items": {"type": "number"}}}}},
        },
    },
    "paths": {
        "/api/v1/status": {"get": {"summary": "the daemon's status, by section", "responses": {
            "200": _ok("status", {"type": "object"}), **_AUTH}}},
        "/api/v1/bans": {
            "get": {"summary": "bans in force", "responses": {"200": _ok("bans", {"type": "object", "properties": {
                "bans": {"type": "array", "items": {"$ref": "#/components/schemas/Ban"}}}}), **_AUTH}},
            "post": {"summary": "ban an address or network (through the daemon's one ban path)",
                     "security": [{"bearer": []}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/BanRequest"}}}},
                     "responses": {"201": _ok("banned", {"type": "object", "properties": {
                         "ban": {"$ref": "#/components/schemas/Ban"}, "firewall_error": {"type": "string",
                                                                                         "nullable": True}}}),
                                   "400": _ERR, "413": _ERR, "415": _ERR, **_AUTH}}},
        "/api/v1/bans/{ip}": {"delete": {
            "summary": "lift a ban now (kernel and store)", "security": [{"bearer": []}],
            "parameters": [{"name": "ip", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("lifted", {"type": "object"}), "404": _ok("was not banned", {"type": "object"}),
                          **_AUTH}}},
        "/api/v1/bans/timeline": {"get": {
            "summary": "bans and unbans per interval", "parameters": [_SINCE, _STEP],
            "responses": {"200": _ok("[bucket, bans, unbans] points", {"type": "object"}), **_AUTH}}},
        "/api/v1/blocklist.txt": {"get": {
            "summary": "bans in force as a plain blocklist (one address or network per line, # header)",
            "responses": {"200": {"description": "text/plain", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_AUTH}}},
        "/api/v1/events": {"get": {
            "summary": "the newest events of the history, oldest first",
            "parameters": [_q("since", "epoch seconds"), _q("limit", "at most 1000 (default 100)", "integer"),
                           _q("ip", "only this source", "string")],
            "responses": {"200": _ok("events", {"type": "object"}), **_AUTH}}},
        "/api/v1/timeline": {"get": {
            "summary": "events per interval, by kind (the report's timeline)", "parameters": [_SINCE, _STEP],
            "responses": {"200": _ok("timeline", {"$ref": "#/components/schemas/Timeline"}), **_AUTH}}},
        "/api/v1/report": {"get": {
            "summary": "the HTML report's data document over the daemon's history (sources, accounts, toll fraud)",
            "parameters": [_SINCE], "responses": {"200": _ok("report document", {"type": "object"}), **_AUTH}}},
        "/api/v1/openapi.json": {"get": {"summary": "this document", "responses": {"200": _ok("OpenAPI 3",
                                                                                                {"type": "object"})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text format)", "responses": {
            "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/": {"get": {"summary": "the live dashboard (HTML)", "responses": {
            "200": {"description": "page", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    },
}
