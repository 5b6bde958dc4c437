from __future__ import annotations

import datetime as dt

from cdp_assets.alerts import Alert, deliver
from cdp_assets.config.alerts import EmailDestination, WebhookDestination
from cdp_assets_tests.alerts.receivers import Listener, Mailbox, free_port

NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
ALERT = Alert(
    "core/customer_profiles",
    "run_failure",
    "ValueError: cannot merge jane.doe@example.com",
    NOW,
    "http://ui.local:3000",
    run_id="run-1",
    job_name="nightly_refresh",
)


def email(port: int, **extra: object) -> EmailDestination:
    fields = {
        "name": "ops_mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "cdp@shop.test",
        "to": ["data@shop.test", "ops@shop.test"],
    }
    return EmailDestination.model_validate({**fields, **extra})


def webhook(name: str = "chat", env: str = "CHAT_URL") -> WebhookDestination:
    return WebhookDestination(name=name, type="webhook", url_env=env, timeout_seconds=5)


def test_email_and_webhook_receive_the_alert(mailbox: Mailbox, listener: Listener) -> None:
    results = deliver(ALERT, (email(mailbox.port), webhook()), {"CHAT_URL": listener.url})
    assert [(r.destination, r.ok) for r in results] == [("ops_mail", True), ("chat", True)]
    [message] = mailbox.messages
    assert message["Subject"] == "[cdp] core/customer_profiles: run failed"
    assert message["To"] == "data@shop.test, ops@shop.test"
    body = message.get_content()
    assert "Run: http://ui.local:3000/runs/run-1" in body
    assert "jane.doe@example.com" not in body
    [payload] = listener.bodies
    assert payload["asset"] == "core/customer_profiles"
    assert payload["text"].startswith("core/customer_profiles: run failed")


def test_a_bad_destination_does_not_stop_the_others(mailbox: Mailbox, listener: Listener) -> None:
    broken_url = listener.url.replace("/hook", "/broken")
    destinations = (
        webhook("unset", "NOT_SET_ANYWHERE"),
        email(free_port(), name="nobody_home"),
        webhook("server_error", "BROKEN_URL"),
        email(
            mailbox.port, username_env="SMTP_USER", password_env="SMTP_PASSWORD", name="needs_login"
        ),
        webhook(),
        email(mailbox.port),
    )
    environ = {"CHAT_URL": listener.url, "BROKEN_URL": broken_url}
    results = deliver(ALERT, destinations, environ)
    failed = {r.destination: r.error for r in results if not r.ok}
    assert set(failed) == {"unset", "nobody_home", "server_error", "needs_login"}
    assert "environment variable NOT_SET_ANYWHERE (url_env) is not set" in failed["unset"]
    assert "environment variable SMTP_USER (username_env) is not set" in failed["needs_login"]
    assert "HTTP 500" in failed["server_error"] and broken_url not in failed["server_error"]
    assert "SMTP 127.0.0.1" in failed["nobody_home"]
    assert len(listener.bodies) == 1 and len(mailbox.messages) == 1
