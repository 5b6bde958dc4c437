"""Alerts: what a failed run, a failed blocking check or a stale asset tells the data team,
and how it reaches them. Pure Python (smtplib, urllib): the Dagster sensors that find the
incidents live in `cdp_assets.defs.alerts`.

    messages     an `Alert` and its email / webhook renderings (identifiers masked)
    dedup        the once-per-asset-cause-and-day rule over a small key-value ledger
    freshness    which assets are past their freshness window
    delivery     SMTP and webhook senders, each destination failing on its own
"""

from cdp_assets.alerts.dedup import AlertLedger, MemoryLedger, due_alerts, record_sent
from cdp_assets.alerts.delivery import DeliveryResult, deliver, post_webhook, send_email
from cdp_assets.alerts.freshness import stale_assets
from cdp_assets.alerts.messages import Alert, email_message, webhook_payload

__all__ = [
    "Alert",
    "AlertLedger",
    "DeliveryResult",
    "MemoryLedger",
    "deliver",
    "due_alerts",
    "email_message",
    "post_webhook",
    "record_sent",
    "send_email",
    "stale_assets",
    "webhook_payload",
]
