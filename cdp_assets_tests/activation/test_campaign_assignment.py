"""Campaign assignment: deterministic, sticky, by share, with a global control group."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cdp_assets.activation.campaign_assignment import (
    GLOBAL_CONTROL,
    assign_campaigns,
    draw_arms,
    in_global_control,
    not_exported_arms,
    unit_draws,
    window_opens,
)
from cdp_assets.config import parse_config
from cdp_assets_tests.config.test_campaign_config import BASE

CONFIG = parse_config(BASE, file=Path("cdp.yaml"), base_dir=Path("."))
WINBACK = CONFIG.campaigns[0]  # personalised 40, generic 40, control 20; 2026-09-01..30


def ids(n: int, start: int = 0) -> pd.Series:
    return pd.Series([f"C{i:09d}" for i in range(start, start + n)], dtype="string")


def members(customer_ids: pd.Series, audience: str = "lapsed") -> pd.DataFrame:
    return pd.DataFrame({"audience": audience, "customer_id": customer_ids})


def test_a_draw_is_the_keyed_blake2b_of_scope_and_customer() -> None:
    key = hashlib.blake2b(b"cdp", digest_size=32).digest()
    digest = hashlib.blake2b(b"winback|C000000007", digest_size=8, key=key).digest()
    expected = int.from_bytes(digest, "big") / 2**64
    assert unit_draws("cdp", "winback", pd.Series(["C000000007"]))[0] == expected
    assert unit_draws("other", "winback", pd.Series(["C000000007"]))[0] != expected


def test_every_draw_of_a_batch_is_the_keyed_blake2b_of_its_customer() -> None:
    key = hashlib.blake2b(b"cdp", digest_size=32).digest()
    customers = pd.Series(["C000000007", "C1", "Zoë-42", "", "C000000007"], dtype="string")
    expected = [
        int.from_bytes(
            hashlib.blake2b(f"winback|{c}".encode(), digest_size=8, key=key).digest(), "big"
        )
        / 2**64
        for c in customers
    ]
    assert unit_draws("cdp", "winback", customers).tolist() == expected
    assert unit_draws("cdp", "winback", pd.Series([], dtype="string")).shape == (0,)


def test_arms_follow_the_shares_and_do_not_depend_on_order() -> None:
    population = ids(20_000)
    arms = draw_arms(population, WINBACK, "cdp")
    counts = pd.Series(arms).value_counts()
    # chi-square goodness of fit against 40/40/20: no evidence against the shares
    observed = [counts["personalised"], counts["generic"], counts["control"]]
    assert stats.chisquare(observed, [8000, 8000, 4000]).pvalue > 0.001
    shuffled = population.sample(frac=1, random_state=3)
    again = pd.Series(draw_arms(shuffled, WINBACK, "cdp"), index=shuffled.index)
    assert (again.sort_index().to_numpy() == arms).all()


def test_the_global_control_group_is_the_same_for_every_campaign() -> None:
    population = ids(20_000)
    held_out = in_global_control(population, "cdp", 0.05)
    assert 0.04 < held_out.mean() < 0.06
    assert not in_global_control(population, "cdp", 0.0).any()
    assignments = assign_campaigns(
        CONFIG.campaigns, members(population), None, dt.date(2026, 9, 1), "cdp", 0.05
    )
    in_group = assignments.set_index("customer_id")["arm"] == GLOBAL_CONTROL
    assert (in_group.to_numpy() == held_out).all()


def test_assignments_are_sticky_and_later_members_join_while_active() -> None:
    first = assign_campaigns(
        CONFIG.campaigns, members(ids(100)), None, dt.date(2026, 9, 1), "cdp", 0.0
    )
    assert len(first) == 100 and set(first["campaign"]) == {"winback"}
    assert (first["assigned_at"] == pd.Timestamp("2026-09-02", tz="UTC")).all()
    # Next run: 40 of them left the audience, 50 new ones joined.
    later = members(pd.concat([ids(60), ids(50, start=100)], ignore_index=True))
    second = assign_campaigns(CONFIG.campaigns, later, first, dt.date(2026, 9, 10), "cdp", 0.0)
    assert len(second) == 150
    kept = second.merge(first, on=["campaign", "customer_id"], suffixes=("", "_before"))
    assert len(kept) == 100 and (kept["arm"] == kept["arm_before"]).all()
    assert (kept["assigned_at"] == kept["assigned_at_before"]).all()
    joined = second[~second["customer_id"].isin(first["customer_id"])]
    assert (joined["assigned_at"] == pd.Timestamp("2026-09-11", tz="UTC")).all()
    # After the end nobody new is assigned; the same run twice changes nothing.
    after = assign_campaigns(
        CONFIG.campaigns, members(ids(300)), second, dt.date(2026, 10, 1), "cdp", 0.0
    )
    pd.testing.assert_frame_equal(after, second)
    again = assign_campaigns(CONFIG.campaigns, later, second, dt.date(2026, 9, 10), "cdp", 0.0)
    pd.testing.assert_frame_equal(again, second)


def test_before_the_start_nobody_is_assigned_and_windows_open_at_local_midnight() -> None:
    none = assign_campaigns(
        CONFIG.campaigns, members(ids(10)), None, dt.date(2026, 8, 31), "cdp", 0.0
    )
    assert none.empty and list(none.columns) == ["campaign", "customer_id", "arm", "assigned_at"]
    assert window_opens(dt.date(2026, 9, 1), "America/New_York") == pd.Timestamp(
        "2026-09-02 04:00", tz="UTC"
    )


def test_control_arms_are_never_exported() -> None:
    assert not_exported_arms(WINBACK) == {"control", GLOBAL_CONTROL}
    data = {**BASE, "campaigns": [{**BASE["campaigns"][0], "arms": [{"name": "a", "share": 100}]}]}
    config = parse_config(data, file=Path("cdp.yaml"), base_dir=Path("."))
    assert not_exported_arms(config.campaigns[0]) == {GLOBAL_CONTROL}
    assert np.array_equal(draw_arms(ids(5), config.campaigns[0], "cdp"), np.array(["a"] * 5))


def test_addresses_control_members_share_are_withheld_from_treated_files() -> None:
    from cdp_assets.activation.ad_hashing import hash_email, hash_phone
    from cdp_assets.activation.campaign_offers import held_out_addresses, without_held_out

    home = "+4915973432868"
    control = pd.DataFrame(
        {"customer_id": ["c9"], "email": ["Pat@Mail.com"], "phone": [home], "first_name": ["Pat"]}
    )
    email_rows = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "email": ["pat@mail.com ", "kim@mail.com"],
            "first_name": ["A", "B"],
        }
    )
    kept = without_held_out(email_rows, "email", held_out_addresses(control, "email"))
    assert kept["customer_id"].tolist() == ["c2"]  # c1 shares Pat's address
    sms_rows = pd.DataFrame({"customer_id": ["c3", "c4"], "phone": [home, "+4915112345678"]})
    assert without_held_out(sms_rows, "sms", held_out_addresses(control, "sms"))[
        "customer_id"
    ].tolist() == ["c4"]
    ads_rows = pd.DataFrame(
        {
            "email_sha256": [hash_email("jo@mail.com"), hash_email("pat@mail.com"), None],
            "phone_sha256": [hash_phone(home), None, hash_phone("+4915112345678")],
        },
        dtype="string",
    )
    ads = without_held_out(ads_rows, "ads", held_out_addresses(control, "ads"))
    # Jo keeps the email hash but loses the household phone; Pat's own email row goes.
    assert ads["email_sha256"].tolist()[0] == hash_email("jo@mail.com")
    assert pd.isna(ads["phone_sha256"].iloc[0])
    assert len(ads) == 2 and ads["phone_sha256"].iloc[1] == hash_phone("+4915112345678")
    assert without_held_out(email_rows, "email", set()) is email_rows


def test_new_members_are_assigned_once_each_whatever_their_ids() -> None:
    """Members listed twice, ids beyond ASCII, some assigned already: each new member gets one
    assignment, the assigned keep theirs, and the result is ordered by customer id."""
    first = assign_campaigns(
        CONFIG.campaigns, members(ids(3)), None, dt.date(2026, 9, 1), "cdp", 0.0
    )
    odd = pd.Series(["Ç-7", "c-2", "李-1", "Z-9", "ü-3"], dtype="string")
    joined = pd.concat([ids(3), odd, odd.iloc[:2], ids(2)], ignore_index=True)
    second = assign_campaigns(
        CONFIG.campaigns, members(joined), first, dt.date(2026, 9, 10), "cdp", 0.0
    )
    assert second["customer_id"].tolist() == sorted([*ids(3), *odd])
    new = second[second["assigned_at"] == pd.Timestamp("2026-09-11", tz="UTC")]
    assert sorted(new["customer_id"]) == sorted(odd)
    # Arms depend on the customer only: the same as drawing them for the new ids alone.
    alone = assign_campaigns(CONFIG.campaigns, members(odd), None, dt.date(2026, 9, 10), "cdp", 0.0)
    assert new.set_index("customer_id")["arm"].to_dict() == (
        alone.set_index("customer_id")["arm"].to_dict()
    )
