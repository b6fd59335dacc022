"""One self-contained HTML file: the data island, the project's own CSS and chart script inlined.

Nothing is loaded from anywhere (a Content-Security-Policy of `default-src 'none'` makes sure of
it), so the file opens on an air-gapped laptop and from a mail attachment.
"""

from __future__ import annotations

import json
from importlib import resources

ISLAND_ID = "sipwarden-report"
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def asset(name: str) -> str:
    return resources.files("sipwarden.report").joinpath("assets", name).read_text(encoding="utf-8")


def island_json(doc: dict) -> str:
    """JSON that cannot end its <script> element early: attacker text like `</script>` stays data."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page(title: str, body_script: str, island: str = "", csp: str = CSP) -> str:
    """The HTML shell the report and the dashboard share."""
    esc = title.replace("&", "&amp;").replace("<", "&lt;")
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc}</title>\n<style>\n{asset('sipwarden.css')}</style>\n</head>\n<body>\n<main id=\"app\"></main>\n"
        f"{island}<script>\n{asset('sipwarden.js')}</script>\n<script>\n{body_script}</script>\n</body>\n</html>\n"
    )


def render(doc: dict) -> str:
    island = f"<script type=\"application/json\" id=\"{ISLAND_ID}\">{island_json(doc)}</script>\n"
    boot = (f"SW.renderReport(JSON.parse(document.getElementById({json.dumps(ISLAND_ID)}).textContent), "
            "document.getElementById(\"app\"));\n")
    return page("sipwarden report", boot, island)
