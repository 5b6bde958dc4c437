from __future__ import annotations

from pathlib import Path

import pytest

from cdp_assets.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
EMAIL = {"name": "ops", "type": "email", "host": "smtp.local", "from": "a@b.co", "to": ["x@y.co"]}
WEBHOOK = {"name": "chat", "type": "webhook", "url_env": "CHAT_URL"}


def parse(alerts: dict) -> object:
    return parse_config({"alerts": alerts}, file=Path("cdp.yaml"), base_dir=Path("."))


def test_destinations_parse_with_defaults() -> None:
    alerts = parse({"destinations": [EMAIL, WEBHOOK]}).alerts
    email, webhook = alerts.destinations
    assert (email.port, email.security, email.sender, email.to) == (
        587,
        "starttls",
        "a@b.co",
        ("x@y.co",),
    )
    assert webhook.url_env == "CHAT_URL"
    assert alerts.ui_base_url == "http://127.0.0.1:3000"
    assert alerts.causes == ("run_failure", "check_failure", "stale")
    assert alerts.active


def test_no_destination_or_disabled_means_inactive() -> None:
    assert not parse({}).alerts.active
    assert not parse({"enabled": False, "destinations": [WEBHOOK]}).alerts.active


def test_the_demo_file_validates_and_sends_nothing() -> None:
    alerts = load_config(REPO / "cdp.yaml").alerts
    assert len(alerts.destinations) == 2
    assert not alerts.active


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        (
            {"destinations": [{**EMAIL, "to": ["not-an-address"]}]},
            "alerts.destinations[0].email.to: [0]: 'not-an-address' is not an email address",
        ),
        (
            {"destinations": [{**EMAIL, "username_env": "SMTP_USER"}]},
            "alerts.destinations[0].email: username_env and password_env go together",
        ),
        (
            {"destinations": [{**WEBHOOK, "url_env": "https://hooks.example/secret"}]},
            "alerts.destinations[0].webhook.url_env",
        ),
        (
            {"destinations": [WEBHOOK, {**WEBHOOK, "url_env": "OTHER"}]},
            "alerts.destinations: [1].name: 'chat' is already used by destinations[0]",
        ),
        ({"destinations": [{**WEBHOOK, "type": "pager"}]}, "alerts.destinations[0]"),
        ({"ui_base_url": "localhost:3000"}, "alerts.ui_base_url: 'localhost:3000' is not"),
        ({"causes": ["stale", "late"]}, "alerts.causes[1]"),
        ({"destinations": [{**EMAIL, "password": "hunter2"}]}, "password: unknown key"),
    ],
)
def test_a_mistake_is_one_error_naming_the_key(alerts: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(alerts)
    assert message in str(error.value)
    assert "hunter2" not in str(error.value)
