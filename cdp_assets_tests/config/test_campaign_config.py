"""`campaigns` and `activation` in cdp.yaml: every mistake is one message naming the key."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cdp_assets.config import ConfigError, parse_config

BASE: dict[str, Any] = {
    "analytics": {"audiences": [{"name": "lapsed", "rule": "recency_days > 90"}]},
    "exports": {
        "destinations": [
            {"name": "newsletter", "channel": "email"},
            {"name": "sms_gateway", "channel": "sms"},
        ]
    },
    "activation": {"global_control_share": 0.05},
    "campaigns": [
        {
            "name": "winback",
            "audience": "lapsed",
            "destinations": ["newsletter"],
            "start": "2026-09-01",
            "end": "2026-09-30",
            "conversion_window_days": 21,
            "primary_metric": "revenue",
            "arms": [
                {"name": "personalised", "share": 40, "offer": "recommendations"},
                {"name": "generic", "share": 40, "offer": "coupon", "coupon_code": "BACK10"},
                {"name": "control", "share": 20, "control": True},
            ],
        }
    ],
}


def parse(data: dict[str, Any]):
    return parse_config(data, file=Path("cdp.yaml"), base_dir=Path("."))


def changed(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def test_a_valid_campaign() -> None:
    config = parse(BASE)
    campaign = config.campaign("winback")
    assert campaign is not None and campaign.control_arm == "control"
    assert [a.share for a in campaign.arms] == [40, 40, 20]
    assert campaign.arm("generic").coupon_code == "BACK10"
    assert campaign.active_on(dt.date(2026, 9, 30)) and not campaign.active_on(dt.date(2026, 10, 1))
    assert config.activation.global_control_share == 0.05
    assert config.campaign("nope") is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["campaigns", 0, "audience"], "vips", r"campaigns\[0\]\.audience: no audience named 'vips'"),
        (["campaigns", 0, "destinations"], ["newsletter", "fax"], r"campaigns\[0\]\.destinations\[1\]: no destination named 'fax'"),
        (["campaigns", 0, "arms", 2, "share"], 10, r"campaigns\[0\]\.arms: shares sum to 90 %, not 100 %"),
        (["campaigns", 0, "arms", 1, "coupon_code"], None, r"campaigns\[0\]\.arms\[1\]: .*offer 'coupon' needs coupon_code"),
        (["campaigns", 0, "arms", 2, "offer"], "coupon", r"campaigns\[0\]\.arms\[2\]: .*a control arm gets no offer"),
        (["campaigns", 0, "arms", 0, "name"], "generic", r"campaigns\[0\]\.arms: names used twice: generic"),
        (["campaigns", 0, "arms", 0, "offer"], "gift", r"campaigns\[0\]\.arms\[0\]\.offer"),
        (["campaigns", 0, "end"], "2026-08-01", r"campaigns\[0\]: end 2026-08-01 is before start 2026-09-01"),
        (["campaigns", 0, "primary_metric"], "clicks", r"campaigns\[0\]\.primary_metric"),
        (["activation", "global_control_share"], 0.6, r"activation\.global_control_share"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(changed(path, value))


def test_a_campaign_without_a_control_arm_is_allowed() -> None:
    arms = [{"name": "a", "share": 50}, {"name": "b", "share": 50}]
    campaign = parse(changed(["campaigns", 0, "arms"], arms)).campaigns[0]
    assert campaign.control_arm is None


def test_two_campaigns_of_one_name_are_refused() -> None:
    data = copy.deepcopy(BASE)
    data["campaigns"].append(copy.deepcopy(data["campaigns"][0]))
    with pytest.raises(ConfigError, match=r"campaigns\[1\]\.name: 'winback' is used twice"):
        parse(data)
