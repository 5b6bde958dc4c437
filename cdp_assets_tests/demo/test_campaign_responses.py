"""The simulated email/SMS service and customers' response to the demo campaigns."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdp_assets.activation.export_files import write_export
from cdp_assets.demo.campaign_effects import (
    MAX_TAU,
    baseline_probability,
    people_traits,
    true_effect,
)
from cdp_assets.demo.campaign_responses import (
    DEMO_CAMPAIGNS,
    EFFECT_COLUMNS,
    EVENT_COLUMNS,
    EVENT_ORDER,
    ORDER_COLUMNS,
    TRUTH_COLUMNS,
    CampaignPlan,
    account_ids_by_email,
    email_key,
    main,
    phone_key,
    simulate_responses,
    window_opens,
)

OPENS = pd.Timestamp("2026-09-02T04:00:00Z")
OPEN_DAY = (OPENS.normalize() - pd.Timestamp("1970-01-01T00:00:00Z")).days
EXPORT_ID = "2026-09-01_20260901T060000123456Z"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
OFFERS = {
    ("autumn_winback", "personalised"): ("recommendations", None, None),
    ("autumn_winback", "generic"): ("coupon", "WINBACK15", "15.0"),
    ("vip_early_access", "offer"): ("coupon", "VIP20", "20.0"),
}
EXISTING_ORDERS = (
    "order_number,account_id,email,ordered_at,total,currency,status,channel,coupon_code\n"
    "SO-00000001,A0000001,person0@example.com,2026-08-30T18:00:00Z,42.50,USD,completed,web,\n"
    "SO-00000002,,person5@gmail.com,2026-08-31T19:00:00Z,99.00,USD,completed,app,VIP20\n"
)


# --- a fake demo set and exports -----------------------------------------------------------


def make_people(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    gmail = i % 5 == 0
    churn = OPENS.normalize().tz_localize(None) + pd.to_timedelta(
        rng.integers(-600, 900, n), unit="D"
    )
    return pd.DataFrame(
        {
            "person_id": [f"P{k + 1:07d}" for k in i],
            "first_name": [f"Name{k}" for k in i],
            "email": np.where(
                gmail, [f"person.{k}@gmail.com" for k in i], [f"person{k}@example.com" for k in i]
            ),
            "alt_email": [f"alt{k}@example.org" if k % 7 == 3 else "" for k in i],
            "mobile": [f"+1555{k:07d}" for k in i],
            "purchase_rate_per_year": np.char.mod(
                "%.3f", np.clip(rng.gamma(1.3, 1.9, n), 0.05, 40)
            ),
            "satisfaction": [f"{s:.3f}" for s in rng.beta(4.0, 1.6, n)],
            "churn_on": churn.strftime("%Y-%m-%d"),
            "loyalty_member": np.where(rng.random(n) < 0.3, "true", "false"),
            "has_account": np.where(i % 2 == 0, "true", "false"),
        }
    )


def email_rows(people: pd.DataFrame, campaign: str, arm: str, who: np.ndarray) -> pd.DataFrame:
    offer, coupon, discount = OFFERS[(campaign, arm)]
    rows = pd.DataFrame(
        {
            "customer_id": [f"C{k:07d}" for k in who],
            "email": people["email"].to_numpy()[who],
            "first_name": people["first_name"].to_numpy()[who],
            "last_name": "X",
        }
    )
    return _with_offer(rows, campaign, arm, offer, coupon, discount)


def sms_rows(people: pd.DataFrame, campaign: str, arm: str, who: np.ndarray) -> pd.DataFrame:
    offer, coupon, discount = OFFERS[(campaign, arm)]
    rows = pd.DataFrame(
        {"customer_id": [f"C{k:07d}" for k in who], "phone": people["mobile"].to_numpy()[who]}
    )
    return _with_offer(rows, campaign, arm, offer, coupon, discount)


def _with_offer(rows, campaign, arm, offer, coupon, discount) -> pd.DataFrame:
    return rows.assign(
        campaign=campaign,
        arm=arm,
        offer=offer,
        coupon_code=coupon,
        discount_percent=discount,
        recommendations="SKU-1|SKU-2" if offer == "recommendations" else None,
    )


def write_export_by_hand(
    exports: Path, destination: str, campaign: str, arm: str, rows: pd.DataFrame
) -> None:
    """latest.json → <export_id>/manifest.json → <export_id>/full.csv, as export_files does."""
    audience = exports / destination / f"{campaign}__{arm}"
    (audience / EXPORT_ID).mkdir(parents=True)
    data = rows.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")
    (audience / EXPORT_ID / "full.csv").write_bytes(data)
    manifest = {
        "destination": destination,
        "audience": f"{campaign}__{arm}",
        "channel": "email" if "email" in rows.columns else "sms",
        "format": "csv",
        "as_of": "2026-09-01",
        "export_id": EXPORT_ID,
        "files": {
            "full": {
                "path": f"{EXPORT_ID}/full.csv",
                "rows": len(rows),
                "sha256": hashlib.sha256(data).hexdigest(),
                "columns": list(rows.columns),
            }
        },
    }
    (audience / EXPORT_ID / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    pointer = {"export_id": EXPORT_ID, "manifest": f"{EXPORT_ID}/manifest.json"}
    (audience / "latest.json").write_text(json.dumps(pointer), encoding="utf-8")


def account_id(k: int) -> str:
    return f"A{k + 1:07d}"


def write_landing(landing: Path, people: pd.DataFrame) -> dict[int, str]:
    """Accounts of the even people (emails written in the ways the shop writes them, one file
    Latin-1) and an existing orders file. Returns person position → account id."""
    accounts = landing / "shop" / "accounts"
    accounts.mkdir(parents=True)
    (landing / "shop" / "orders").mkdir(parents=True)
    (landing / "shop" / "orders" / "orders_2026-08.csv").write_text(EXISTING_ORDERS)
    styles = [
        lambda e: e,
        lambda e: e.title(),
        lambda e: f" {e} ",
        lambda e: e.replace("@", "+shop@"),
        lambda e: e.upper(),
    ]
    owners = {}
    lines, legacy = ["account_id,email,first_name,last_name"], ["account_id,email,first_name"]
    for k in range(0, len(people), 2):
        email = people["email"].iloc[k]
        if k % 10 == 4:  # Gmail dots dropped; or in the Latin-1 legacy file
            legacy.append(f"{account_id(k)},{email},Jérémie")
        else:
            lines.append(f"{account_id(k)},{styles[k % 5](email)},Name{k},Doe")
        owners[k] = account_id(k)
    lines.append("A9999999,,Nobody,Empty")  # no email: ignored
    lines.append('broken line,"unterminated')
    (accounts / "accounts_2025-01.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (accounts / "accounts_eu_legacy.csv").write_bytes(("\n".join(legacy) + "\n").encode("latin-1"))
    return owners


class World:
    """A demo folder (landing, ground truth, people.csv) and campaign exports."""

    def __init__(self, root: Path, n: int, shares: tuple[float, float, float], seed: int = 1):
        self.root = root
        self.data, self.exports = root / "data", root / "exports"
        self.landing, self.truth = self.data / "landing", self.data / "ground_truth"
        self.truth.mkdir(parents=True)
        self.people = make_people(n, seed)
        self.people.to_csv(self.truth / "people.csv", index=False)
        (self.truth / "README.md").write_text("# Demo ground truth\n\nOriginal text.\n")
        self.accounts = write_landing(self.landing, self.people)
        rng = np.random.default_rng(seed + 100)
        u = rng.random(n)
        personalised = np.flatnonzero(u < shares[0])
        generic = np.flatnonzero((u >= shares[0]) & (u < shares[0] + shares[1]))
        vip = np.flatnonzero(rng.random(n) < shares[2])
        self.exported = {
            ("autumn_winback", "personalised"): personalised,
            ("autumn_winback", "generic"): generic,
            ("vip_early_access", "offer"): vip,
        }
        p_rows = email_rows(self.people, "autumn_winback", "personalised", personalised)
        g_rows = email_rows(self.people, "autumn_winback", "generic", generic)
        # Two addresses nobody in the demo has; one person exported twice (second address).
        twice = generic[generic % 7 == 3][0]
        self.duplicate_person = int(twice)
        strangers = ["stranger1@nowhere.test", "stranger2@nowhere.test"]
        extra = pd.DataFrame(
            {
                "customer_id": ["C9000001", "C9000002", "C9000003"],
                "email": [*strangers, f"alt{twice}@example.org"],
                "first_name": ["S", "T", "Alt"],
                "last_name": "X",
            }
        )
        g_rows = pd.concat(
            [g_rows, _with_offer(extra, "autumn_winback", "generic", "coupon", "WINBACK15", "15.0")]
        )
        v_rows = sms_rows(self.people, "vip_early_access", "offer", vip)
        v_rows = pd.concat(
            [
                v_rows,
                _with_offer(
                    pd.DataFrame({"customer_id": ["C9000009"], "phone": ["+15559999999"]}),
                    "vip_early_access",
                    "offer",
                    "coupon",
                    "VIP20",
                    "20.0",
                ),
            ]
        )
        self.rows = {"personalised": p_rows, "generic": g_rows, "offer": v_rows}
        write_export_by_hand(self.exports, "newsletter", "autumn_winback", "personalised", p_rows)
        write_export_by_hand(self.exports, "newsletter", "autumn_winback", "generic", g_rows)
        write_export_by_hand(self.exports, "sms_gateway", "vip_early_access", "offer", v_rows)

    def run(self, seed: int = 7, campaigns=DEMO_CAMPAIGNS):
        return simulate_responses(
            self.exports,
            self.landing,
            self.truth,
            pd.read_csv(self.truth / "people.csv", dtype="string", keep_default_na=False),
            seed,
            campaigns,
        )

    def read(self, relative: str) -> pd.DataFrame:
        return pd.read_csv(self.data / relative, dtype=str, keep_default_na=False)

    def outputs(self) -> dict[str, bytes]:
        names = [
            "landing/esp/events_autumn_winback.csv",
            "landing/esp/events_vip_early_access.csv",
            "landing/esp/events_summer_teaser.csv",
            "landing/shop/orders/orders_campaign_autumn_winback.csv",
            "landing/shop/orders/orders_campaign_vip_early_access.csv",
            "ground_truth/campaign_effects.csv",
            "ground_truth/campaign_truth.csv",
            "ground_truth/campaign_potential_effects.csv",
            "ground_truth/README.md",
        ]
        return {name: (self.data / name).read_bytes() for name in names}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = World(tmp_path_factory.mktemp("campaigns"), 1_200, (0.3, 0.3, 0.4))
    w.summary = w.run()
    return w


def seconds(stamps: pd.Series) -> np.ndarray:
    since = pd.to_datetime(stamps, utc=True) - pd.Timestamp("1970-01-01", tz="UTC")
    return since.dt.total_seconds().to_numpy()


# --- plans -----------------------------------------------------------------------------------


def test_window_opens_at_the_end_of_the_start_day_in_new_york() -> None:
    assert window_opens(dt.date(2026, 9, 1), "America/New_York") == OPENS
    assert window_opens(dt.date(2026, 12, 1), "America/New_York") == pd.Timestamp(
        "2026-12-02T05:00:00Z"
    )
    plans = {p.name: p for p in DEMO_CAMPAIGNS}
    winback, vip = plans["autumn_winback"], plans["vip_early_access"]
    assert (winback.destination, winback.channel, winback.window_days) == (
        "newsletter",
        "email",
        21,
    )
    assert winback.arms == {"personalised": (None, None), "generic": ("WINBACK15", 15.0)}
    assert (vip.destination, vip.channel, vip.window_days) == ("sms_gateway", "sms", 14)
    assert vip.arms == {"offer": ("VIP20", 20.0)}
    assert winback.window_opens == vip.window_opens == OPENS
    assert vip.closes_second - vip.opens_second == 14 * 86_400


def test_plans_are_checked() -> None:
    with pytest.raises(ValueError, match="channel"):
        CampaignPlan("x", "d", "ads", OPENS, 7, {"a": (None, None)})
    with pytest.raises(ValueError, match="time zone"):
        CampaignPlan("x", "d", "email", pd.Timestamp("2026-09-02"), 7, {"a": (None, None)})
    with pytest.raises(ValueError, match="unknown effect"):
        CampaignPlan("x", "d", "email", OPENS, 7, {"a": (None, None)}, {"a": "magic"})
    plan = CampaignPlan("x", "d", "sms", OPENS, 7, {"a": ("C10", 10.0), "b": (None, None)})
    assert (plan.effect_of("a"), plan.effect_of("b")) == ("coupon", "recommendations")


def test_addresses_compare_as_one_mailbox_or_number() -> None:
    keys = email_key(pd.Series([" J.Smith+news@GoogleMail.com ", "j.smith@example.com", "", None]))
    assert keys.tolist()[:2] == ["jsmith@gmail.com", "j.smith@example.com"]
    assert keys.isna().tolist() == [False, False, True, True]
    assert phone_key(pd.Series(["+1 (555) 000-0001", None])).tolist()[0] == "15550000001"


def test_accounts_are_read_from_every_file_whatever_the_encoding(world: World) -> None:
    found = account_ids_by_email(world.landing)
    keys = email_key(world.people["email"]).tolist()
    assert {k: found[keys[k]] for k in world.accounts} == world.accounts
    assert len(found) == len(world.accounts)
    assert "A9999999" not in found.values()


# --- the service's events --------------------------------------------------------------------


def test_event_files_have_the_columns_and_unique_stable_ids(world: World) -> None:
    frames = [
        world.read(f"landing/esp/events_{c}.csv")
        for c in ("autumn_winback", "vip_early_access", "summer_teaser")
    ]
    for frame in frames:
        assert tuple(frame.columns) == EVENT_COLUMNS
        assert frame["occurred_at"].str.match(ISO_Z.pattern).all()
    events = pd.concat(frames)
    assert events["event_id"].is_unique
    assert set(events["type"]) <= set(EVENT_ORDER)
    aw = frames[0]
    assert aw["event_id"].iloc[:3].tolist() == [f"autumn_winback-{k:07d}" for k in (1, 2, 3)]
    assert (aw["campaign"] == "autumn_winback").all()
    assert (aw["email"] != "").all() and (aw["phone"] == "").all()
    vip = frames[1]
    assert (vip["phone"] != "").all() and (vip["email"] == "").all()


def test_only_exported_customers_get_one_send_each(world: World) -> None:
    aw = world.read("landing/esp/events_autumn_winback.csv")
    sends = aw[aw["type"] == "send"]
    exported = pd.concat([world.rows["personalised"], world.rows["generic"]])["email"]
    assert sorted(sends["email"]) == sorted(exported)
    assert set(aw["email"]) == set(exported)
    vip = world.read("landing/esp/events_vip_early_access.csv")
    assert sorted(vip.loc[vip["type"] == "send", "phone"]) == sorted(world.rows["offer"]["phone"])
    assert set(vip["phone"]) == set(world.rows["offer"]["phone"])
    # Sends go out a few minutes after the window opens.
    sent = seconds(sends["occurred_at"]) - OPENS.timestamp()
    assert sent.min() >= 60 and sent.max() <= 20 * 60


@pytest.mark.parametrize("campaign", ["autumn_winback", "vip_early_access"])
def test_each_customers_events_follow_the_funnel(world: World, campaign: str) -> None:
    events = world.read(f"landing/esp/events_{campaign}.csv")
    events["who"] = events["email"] + events["phone"]
    events["t"] = seconds(events["occurred_at"])
    plan = next(p for p in DEMO_CAMPAIGNS if p.name == campaign)
    assert events["t"].max() < plan.closes_second
    counts = events.pivot_table(index="who", columns="type", values="t", aggfunc="count").fillna(0)
    first = events.pivot_table(index="who", columns="type", values="t", aggfunc="min")
    for kind in ("delivered", "bounce", "open", "click", "unsubscribe", "complaint"):
        if kind not in counts:
            counts[kind] = 0
            first[kind] = np.nan
    assert (counts.drop(columns="send") <= 1).all().all()
    assert (counts["send"] == 1).all()
    assert ((counts["delivered"] + counts["bounce"]) == 1).all()
    assert (counts["open"] <= counts["delivered"]).all()
    assert (counts["click"] <= counts["open"]).all()
    assert (counts["unsubscribe"] + counts["complaint"] <= counts["delivered"]).all()
    reached = first["delivered"].fillna(first["bounce"])
    assert (reached > first["send"]).all()
    opened = first["open"].notna()
    assert (first.loc[opened, "open"] > first.loc[opened, "delivered"]).all()
    clicked = first["click"].notna()
    assert (first.loc[clicked, "click"] > first.loc[clicked, "open"]).all()
    delivered = counts["delivered"].sum()
    assert 0.93 < delivered / len(counts) < 1.0
    assert 0.3 < counts["open"].sum() / delivered < 0.55
    assert 0.15 < counts["click"].sum() / counts["open"].sum() < 0.5


def test_an_unknown_campaigns_events_are_there_to_be_quarantined(world: World) -> None:
    teaser = world.read("landing/esp/events_summer_teaser.csv")
    assert len(teaser) == 3
    assert (teaser["campaign"] == "summer_teaser").all()
    assert teaser["type"].tolist() == ["send", "delivered", "open"]
    assert teaser["email"].nunique() == 1 and teaser["email"].iloc[0] in set(world.people["email"])
    known = {p.name for p in DEMO_CAMPAIGNS}
    for campaign in known:
        assert set(world.read(f"landing/esp/events_{campaign}.csv")["campaign"]) == {campaign}


# --- the extra orders ------------------------------------------------------------------------


def test_extra_orders_are_shop_orders_inside_the_window_with_the_arms_coupon(
    world: World,
) -> None:
    effects = world.read("ground_truth/campaign_effects.csv")
    existing = EXISTING_ORDERS.splitlines()[0].split(",")
    person_of = dict(zip(world.people["person_id"], range(len(world.people)), strict=True))
    for plan in DEMO_CAMPAIGNS:
        orders = world.read(f"landing/shop/orders/orders_campaign_{plan.name}.csv")
        assert list(orders.columns) == existing == list(ORDER_COLUMNS)
        assert len(orders) > 5
        assert orders["order_number"].is_unique
        assert orders["order_number"].str.match(r"^SO-C\d\d-\d{6}$").all()
        assert orders["ordered_at"].str.match(ISO_Z.pattern).all()
        when = seconds(orders["ordered_at"])
        assert (when >= plan.opens_second).all() and (when < plan.closes_second).all()
        assert (
            (orders[["currency", "status", "channel"]] == ["USD", "completed", "web"]).all().all()
        )
        totals = orders["total"].astype(float)
        assert (totals > 0).all() and orders["total"].str.match(r"^\d+\.\d\d$").all()
        mine = effects[(effects["campaign"] == plan.name) & (effects["order_number"] != "")]
        joined = orders.merge(mine, on="order_number", suffixes=("", "_truth"), validate="1:1")
        assert len(joined) == len(orders)
        for arm, (coupon, _) in plan.arms.items():
            assert (joined.loc[joined["arm"] == arm, "coupon_code"] == (coupon or "")).all()
        assert (joined["total"] == joined["extra_revenue"]).all()
        assert (joined["ordered_at"] == joined["ordered_at_truth"]).all()
        # The buyer's own email, and their shop account when they have one.
        people = [person_of[p] for p in joined["person_id"]]
        assert (joined["email"] == world.people["email"].to_numpy()[people]).all()
        expected = [world.accounts.get(k, "") for k in people]
        assert joined["account_id"].tolist() == expected
        assert "" in expected and any(expected)


def test_existing_order_numbers_are_left_alone(world: World) -> None:
    text = (world.landing / "shop" / "orders" / "orders_2026-08.csv").read_text()
    assert text == EXISTING_ORDERS


# --- the ground truth ------------------------------------------------------------------------


def test_the_ground_truth_adds_up(world: World) -> None:
    effects = world.read("ground_truth/campaign_effects.csv")
    truth = world.read("ground_truth/campaign_truth.csv")
    assert tuple(effects.columns) == EFFECT_COLUMNS
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert len(truth) == 3
    tau = effects["tau"].astype(float)
    converted = effects["converted_by_campaign"] == "true"
    assert ((effects["order_number"] != "") == converted).all()
    assert (effects.loc[~converted, "extra_revenue"] == "0.00").all()
    assert (tau[converted] > 0).all()
    assert (tau.between(0, MAX_TAU)).all()
    for row in truth.itertuples():
        mine = (effects["campaign"] == row.campaign) & (effects["arm"] == row.arm)
        rows = world.rows[row.arm]
        assert int(row.exported) == mine.sum() == len(rows)
        assert sorted(effects.loc[mine, "customer_id"]) == sorted(rows["customer_id"])
        orders = world.read(f"landing/shop/orders/orders_campaign_{row.campaign}.csv")
        numbers = set(effects.loc[mine & converted, "order_number"])
        assert int(row.realised_incremental_conversions) == converted[mine].sum() == len(numbers)
        assert numbers <= set(orders["order_number"])
        assert float(row.expected_incremental_conversions) == pytest.approx(
            tau[mine].sum(), abs=1e-3
        )
        assert float(row.mean_tau) == pytest.approx(tau[mine].mean(), abs=1e-6)
        revenue = orders.set_index("order_number").loc[sorted(numbers), "total"].astype(float).sum()
        assert float(row.realised_incremental_revenue) == pytest.approx(revenue, abs=0.005)
        expected = float(row.expected_incremental_conversions)
        assert float(row.expected_incremental_revenue) > 50 * expected
        assert int(row.bounced) == (mine & (effects["delivered"] == "false")).sum()
    # Orders in the two files = converters, nothing else.
    all_orders = sum(
        len(world.read(f"landing/shop/orders/orders_campaign_{p.name}.csv")) for p in DEMO_CAMPAIGNS
    )
    assert all_orders == converted.sum()
    arms = {(a.campaign, a.arm): a for a in world.summary.arms}
    assert arms[("autumn_winback", "generic")].unmatched == 2
    assert arms[("vip_early_access", "offer")].unmatched == 1
    assert world.summary.unmatched == 3


def test_unmatched_bounced_and_duplicate_rows_get_no_effect(world: World) -> None:
    effects = world.read("ground_truth/campaign_effects.csv")
    tau = effects["tau"].astype(float)
    unmatched = effects["matched"] == "false"
    assert sorted(effects.loc[unmatched, "customer_id"]) == ["C9000001", "C9000002", "C9000009"]
    assert (effects.loc[unmatched, "person_id"] == "").all()
    assert (tau[unmatched] == 0).all()
    assert (effects.loc[unmatched, "tau_if_delivered"] == "0.000000").all()
    bounced = effects["delivered"] == "false"
    assert bounced.any() and (tau[bounced] == 0).all()
    assert (effects.loc[bounced, "converted_by_campaign"] == "false").all()
    duplicate = effects["duplicate"] == "true"
    person = world.people["person_id"].iloc[world.duplicate_person]
    assert effects.loc[duplicate, "person_id"].tolist() == [person]
    assert (tau[duplicate] == 0).all()
    assert ((effects["person_id"] == person) & (effects["campaign"] == "autumn_winback")).sum() == 2


def test_each_exported_customers_tau_is_their_potential_effect(world: World) -> None:
    effects = world.read("ground_truth/campaign_effects.csv")
    potential = world.read("ground_truth/campaign_potential_effects.csv").set_index("person_id")
    assert list(potential.columns) == [
        "baseline__autumn_winback",
        "tau__autumn_winback__generic",
        "tau__autumn_winback__personalised",
        "baseline__vip_early_access",
        "tau__vip_early_access__offer",
    ]
    assert len(potential) == len(world.people)
    real = effects[(effects["matched"] == "true") & (effects["duplicate"] == "false")]
    for row in real.itertuples():
        assert (
            row.tau_if_delivered == potential.at[row.person_id, f"tau__{row.campaign}__{row.arm}"]
        )
        assert row.baseline_probability == potential.at[row.person_id, f"baseline__{row.campaign}"]


def test_the_readme_gets_a_campaign_section_once(world: World) -> None:
    readme = (world.truth / "README.md").read_text()
    assert readme.startswith("# Demo ground truth\n\nOriginal text.\n\n## Campaign responses")
    assert "campaign_effects.csv" in readme and "campaign_truth.csv" in readme


# --- determinism -----------------------------------------------------------------------------


def test_same_inputs_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        w = World(tmp_path / name, 400, (0.4, 0.4, 0.8))
        w.run(seed=11)
        runs.append(w)
    assert runs[0].outputs() == runs[1].outputs()
    # Running again in place replaces the files with the same bytes.
    before = runs[0].outputs()
    runs[0].run(seed=11)
    assert runs[0].outputs() == before
    runs[1].run(seed=12)
    after = runs[1].outputs()
    events = "landing/esp/events_autumn_winback.csv"
    assert after[events] != before[events]


# --- export layouts and the command ---------------------------------------------------------


def test_reads_what_the_export_writer_writes_csv_and_parquet(tmp_path: Path) -> None:
    w = World(tmp_path, 300, (0.5, 0.5, 0.0))
    shutil.rmtree(w.exports)
    for fmt, arm in (("csv", "personalised"), ("parquet", "generic")):
        rows = w.rows[arm]
        for k in (0, 1):  # two exports: the latest one counts
            write_export(
                w.exports,
                "newsletter",
                f"autumn_winback__{arm}",
                "email",
                fmt,
                rows.iloc[: len(rows) - 5 * (1 - k)].astype("string"),
                dt.date(2026, 9, 1),
                {},
                now=dt.datetime(2026, 9, 1, 6, k),
            )
    summary = w.run()
    arms = {(a.campaign, a.arm): a for a in summary.arms}
    assert arms[("autumn_winback", "personalised")].exported == len(w.rows["personalised"])
    assert arms[("autumn_winback", "generic")].exported == len(w.rows["generic"])
    assert arms[("autumn_winback", "generic")].export_id.endswith("T060100000000Z")
    # No export for the SMS campaign: nothing sent, nothing bought.
    assert arms[("vip_early_access", "offer")].exported == 0
    assert arms[("vip_early_access", "offer")].export_id is None
    assert len(w.read("landing/esp/events_vip_early_access.csv")) == 0


def test_an_exported_control_arm_is_refused(tmp_path: Path) -> None:
    w = World(tmp_path, 100, (0.5, 0.4, 0.5))
    rows = email_rows(w.people, "autumn_winback", "personalised", np.arange(5))
    write_export_by_hand(w.exports, "newsletter", "autumn_winback", "control", rows)
    with pytest.raises(ValueError, match="control arm exported"):
        w.run()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = World(tmp_path, 300, (0.4, 0.4, 0.8))
    main(["--data", str(w.data), "--exports", str(w.exports), "--seed", "3"])
    out = capsys.readouterr().out
    assert out.startswith("campaign responses:")
    assert "autumn_winback/generic (email, export 2026-09-01_" in out
    assert (w.landing / "esp" / "events_vip_early_access.csv").exists()
    assert (w.truth / "campaign_truth.csv").exists()


# --- the effect model ------------------------------------------------------------------------


def _effects(n: int = 20_000) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    people = make_people(n, seed=5)
    traits = people_traits(people)
    plan = {"recommendations": 21, "coupon": 21, "vip_offer": 14}
    tau = {m: true_effect(m, traits, OPEN_DAY, days, 9, "c", m) for m, days in plan.items()}
    tau["p0"] = baseline_probability(traits, OPEN_DAY, 21)
    return people, tau


def test_effects_are_realistic_and_differ_between_customers_and_arms() -> None:
    people, tau = _effects()
    rate = people["purchase_rate_per_year"].astype(float).to_numpy()
    sat = people["satisfaction"].astype(float).to_numpy()
    for model in ("recommendations", "coupon", "vip_offer"):
        t = tau[model]
        assert t.min() >= 0 and t.max() <= MAX_TAU
        assert 0.02 < t.mean() < 0.08
        assert len(np.unique(t)) > 0.9 * len(t)
    rec, coupon = tau["recommendations"], tau["coupon"]
    lapsed = tau["p0"] == 0
    fans = lapsed & (rate > 4) & (sat > 0.8)
    cold = lapsed & (rate < 1) & (sat < 0.6)
    assert rec[fans].mean() > 0.08 and rec[cold].mean() < 0.02
    assert coupon[cold].mean() > rec[cold].mean() and rec[fans].mean() > coupon[fans].mean()
    assert coupon.std() < rec.std()  # the coupon's effect is flatter
    vip = tau["vip_offer"]
    loyal = people["loyalty_member"].to_numpy() == "true"
    assert vip[loyal].mean() > vip[~loyal].mean() + 0.02


def test_effects_are_not_ordered_like_the_baseline_purchase_probability() -> None:
    _, tau = _effects()
    p0, rec = tau["p0"], tau["recommendations"]
    top_p0 = p0 >= np.quantile(p0, 0.7)
    for model in ("recommendations", "coupon", "vip_offer"):
        t = tau[model]
        assert pd.Series(t).corr(pd.Series(p0), method="spearman") < 0.3
        # Sending to the 30 % most likely to buy gains far less than to the 30 % moved most.
        assert t[top_p0].mean() < 0.75 * t[t >= np.quantile(t, 0.7)].mean()
    for model in ("coupon", "vip_offer"):
        # Those who would buy anyway gain less than lapsed customers.
        assert tau[model][p0 >= np.quantile(p0, 0.95)].mean() < tau[model][p0 == 0].mean()
    # Among active customers the recommendations effect rises with p0, then falls.
    active = p0 > 0
    deciles = pd.qcut(p0[active], 10, labels=False)
    means = pd.Series(rec[active]).groupby(deciles).mean()
    assert means.idxmax() not in (0, 9)
    assert means.iloc[9] < means.max() - 0.005


def test_a_persons_effect_does_not_depend_on_who_else_is_scored() -> None:
    people = make_people(50, seed=2)
    whole = true_effect("coupon", people_traits(people), OPEN_DAY, 21, 4, "c", "generic")
    part = true_effect("coupon", people_traits(people.iloc[10:20]), OPEN_DAY, 21, 4, "c", "generic")
    assert np.array_equal(whole[10:20], part)
    other = true_effect("coupon", people_traits(people), OPEN_DAY, 21, 5, "c", "generic")
    assert not np.array_equal(whole, other)


def test_realised_incremental_conversions_are_within_sampling_error_of_tau(
    tmp_path: Path,
) -> None:
    w = World(tmp_path, 12_000, (0.4, 0.4, 0.8), seed=3)  # about 19,000 exported
    summary = w.run(seed=21)
    assert sum(a.exported for a in summary.arms) > 18_000
    for a in summary.arms:
        mean_tau = a.expected_conversions / a.exported
        assert 0.02 < mean_tau < 0.1
        # Sum of independent Bernoulli(tau): variance <= expected.
        assert abs(a.conversions - a.expected_conversions) < 4 * np.sqrt(a.expected_conversions)
        revenue = a.revenue_cents / 100
        assert abs(revenue - a.expected_revenue) < 0.25 * a.expected_revenue
    effects = w.read("ground_truth/campaign_effects.csv")
    delivered = (effects["delivered"] == "true").mean()
    assert 0.96 < delivered < 0.98
