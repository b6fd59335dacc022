"""Notifications: tell people what the daemon sees, without ever slowing it down.

`Notifier` is an output of the ban path (a BanService listener) plus a few daemon hooks:
- a `compromise` ban is sent at once;
- other bans (and unbans) are gathered into a digest sent at most once per `digest_interval`
  (counts by reason, top sources);
- the firewall failing and recovering; the daemon starting and stopping.

Each destination (`webhook.Webhook`, `via_apprise.Apprise`) has its own bounded queue and sender
task: a dead mail server never holds back the webhook, and nothing waits on either. A full queue
drops the message and counts it; a failed send is retried with exponential backoff, then counted
as failed. Counts are in `status` (section "notify") and in /metrics.
"""

from __future__ import annotations

from .message import Message
from .notifier import Notifier, from_config

__all__ = ["Message", "Notifier", "from_config"]
