"""The live dashboard: the report's page shell and chart script, fed from the API every second."""

from __future__ import annotations

import json

from ..report.html import asset
from ..report.html import page as shell

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
       "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def page(hours: float) -> str:
    boot = asset("dashboard.js") + f"\nSWD.start({json.dumps({'hours': hours})});\n"
    return shell("sipwarden dashboard", boot, csp=CSP)
