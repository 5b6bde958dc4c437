"""Sending an alert: email over SMTP (smtplib) and JSON webhooks (urllib), with timeouts.

Each destination is tried on its own: a missing environment variable, a refused connection or
an HTTP error is returned as that destination's failure, never raised, so the others still
get the alert. Failure messages name the destination and the environment variable, never a
credential or a webhook URL (a Slack webhook URL is itself the secret)."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from cdp_assets.alerts.messages import Alert, email_message, webhook_payload
from cdp_assets.config.alerts import EmailDestination, WebhookDestination


class DeliveryError(Exception):
    """An alert could not be delivered to one destination."""


@dataclass(frozen=True)
class DeliveryResult:
    destination: str
    ok: bool
    error: str | None = None


def _env(environ: Mapping[str, str], name: str, destination: str, key: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise DeliveryError(
            f"alerts destination {destination!r}: environment variable {name} ({key}) is not set"
        )
    return value


def send_email(destination: EmailDestination, alert: Alert, environ: Mapping[str, str]) -> None:
    message = email_message(alert, destination.sender, destination.to)
    login = None
    if destination.username_env and destination.password_env:
        login = (
            _env(environ, destination.username_env, destination.name, "username_env"),
            _env(environ, destination.password_env, destination.name, "password_env"),
        )
    smtp_class = smtplib.SMTP_SSL if destination.security == "ssl" else smtplib.SMTP
    try:
        with smtp_class(
            destination.host, destination.port, timeout=destination.timeout_seconds
        ) as smtp:
            if destination.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if login is not None:
                smtp.login(*login)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"alerts destination {destination.name!r}: SMTP {destination.host}:"
            f"{destination.port}: {type(exc).__name__}: {exc}"
        ) from None


def post_webhook(destination: WebhookDestination, alert: Alert, environ: Mapping[str, str]) -> None:
    url = _env(environ, destination.url_env, destination.name, "url_env")
    if not url.startswith(("http://", "https://")):
        raise DeliveryError(
            f"alerts destination {destination.name!r}: {destination.url_env} is not an http(s) URL"
        )
    request = urllib.request.Request(
        url,
        data=json.dumps(webhook_payload(alert)).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=destination.timeout_seconds) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(
            f"alerts destination {destination.name!r}: the webhook ({destination.url_env}) "
            f"answered HTTP {exc.code}"
        ) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(
            f"alerts destination {destination.name!r}: the webhook ({destination.url_env}) "
            f"could not be reached: {exc.reason}"
        ) from None
    except (OSError, ValueError) as exc:  # the message may quote the URL: not shown
        raise DeliveryError(
            f"alerts destination {destination.name!r}: the webhook ({destination.url_env}) "
            f"could not be reached: {type(exc).__name__}"
        ) from None


def deliver(
    alert: Alert,
    destinations: tuple[EmailDestination | WebhookDestination, ...],
    environ: Mapping[str, str],
) -> list[DeliveryResult]:
    """The alert sent to every destination; one result each, in order."""
    results = []
    for destination in destinations:
        try:
            if isinstance(destination, EmailDestination):
                send_email(destination, alert, environ)
            else:
                post_webhook(destination, alert, environ)
        except DeliveryError as exc:
            results.append(DeliveryResult(destination.name, False, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one destination must not stop the others
            error = f"alerts destination {destination.name!r}: {type(exc).__name__}"
            results.append(DeliveryResult(destination.name, False, error))
        else:
            results.append(DeliveryResult(destination.name, True))
    return results
