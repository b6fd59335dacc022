"""The live dashboard: the report's page shell and chart script, fed from the API every second."""

from __future__ import annotations

import json

from ..report.html import asset
from ..report.html import page as shell

_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
CSP = _POLICY + "; frame-ancestors 'none'"  # the header; a <meta> policy may not say frame-ancestors


def page(hours: float) -> str:
    boot = asset("dashboard.js") + f"\nSWD.start({json.dumps({'hours': hours})});\n"
    return shell("sipwarden dashboard", boot, csp=_POLICY)
