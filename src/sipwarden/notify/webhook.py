"""JSON POST to a webhook (httpx). Slack and Mattermost incoming webhooks show the `text` field."""

from __future__ import annotations

import logging

import httpx

from .message import Destination, Message

# httpx logs every request with its URL at INFO; webhook URLs are secrets (the token is in the path).
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


class Webhook(Destination):
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        host = httpx.URL(url).host
        self.name = f"webhook:{host}"  # never the whole URL: webhook URLs are secrets
        self.client = httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                        headers={"User-Agent": "sipwarden"})

    async def send(self, m: Message) -> None:
        r = await self.client.post(self.url, json=m.payload())
        if r.status_code >= 300:
            raise RuntimeError(f"HTTP {r.status_code}")

    async def close(self) -> None:
        await self.client.aclose()
