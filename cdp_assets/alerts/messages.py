"""An alert and what each destination receives: an email, a Slack-compatible JSON body.

Every free text an alert carries (an error message, a check's description) is masked with
the platform's identifier masking before it leaves: error messages of data steps may quote a
value, and an alert goes to mailboxes and chat channels outside the platform."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from cdp_assets.reporting.markdown import mask_pii_text

MAX_REASON_CHARS = 1_500  # of an error message quoted in an alert (the run page has it all)

_TITLES = {
    "run_failure": "run failed",
    "check_failure": "blocking check failed",
    "stale": "past its freshness window",
}


@dataclass(frozen=True)
class Alert:
    """One incident about one asset. `cause` is `run_failure`, `check_failure:<check>` or
    `stale`: with the asset, the key of the once-a-day rule."""

    asset: str  # user string of the asset key: core/customer_profiles
    cause: str
    reason: str
    occurred_at: dt.datetime
    ui_base_url: str
    run_id: str | None = None
    job_name: str | None = None
    check_name: str | None = None
    # Other assets of the same failed step (a multi-asset): named, not alerted on their own.
    other_assets: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.cause.partition(":")[0]

    @property
    def dedup_key(self) -> str:
        return f"{self.cause}|{self.asset}"

    @property
    def run_url(self) -> str | None:
        return f"{self.ui_base_url}/runs/{self.run_id}" if self.run_id else None

    @property
    def asset_url(self) -> str:
        return f"{self.ui_base_url}/assets/{self.asset}"

    @property
    def masked_reason(self) -> str:
        reason = self.reason.strip() or "(no message)"
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[:MAX_REASON_CHARS] + " …(cut; see the run)"
        return mask_pii_text(reason)

    @property
    def subject(self) -> str:
        what = _TITLES.get(self.kind, self.kind)
        check = f" ({self.check_name})" if self.check_name else ""
        return f"[cdp] {self.asset}: {what}{check}"

    def text(self) -> str:
        lines = [self.subject.removeprefix("[cdp] "), "", f"Asset: {self.asset}"]
        if self.other_assets:
            lines.append(f"Same step, also not built: {', '.join(self.other_assets)}")
        if self.check_name:
            lines.append(f"Check: {self.check_name}")
        if self.job_name:
            lines.append(f"Job: {self.job_name}")
        lines.append(f"When: {self.occurred_at.isoformat(timespec='seconds')}")
        lines.append(f"Reason: {self.masked_reason}")
        if self.run_url:
            lines.append(f"Run: {self.run_url}")
        lines.append(f"Asset page: {self.asset_url}")
        return "\n".join(lines)


def email_message(alert: Alert, sender: str, to: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(alert.text() + "\n\nOne alert per asset and cause per day.\n")
    return message


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """`text` for Slack-compatible receivers, and the same facts as fields for the others."""
    return {
        "text": alert.text(),
        "asset": alert.asset,
        "other_assets": list(alert.other_assets),
        "cause": alert.kind,
        "check": alert.check_name,
        "reason": alert.masked_reason,
        "run_id": alert.run_id,
        "run_url": alert.run_url,
        "job": alert.job_name,
        "asset_url": alert.asset_url,
        "occurred_at": alert.occurred_at.isoformat(timespec="seconds"),
    }
