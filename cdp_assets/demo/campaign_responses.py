"""The email/SMS service and the customers' response to the demo campaigns, simulated.

`python -m cdp_assets.demo.campaign_responses --data data --exports exports --seed S` runs
after the platform has written the campaign export files (one per treated arm: control arms
and the global control group are never exported). For every exported customer it writes what
an email/SMS service reports back and what the customers then buy because of the message:

- `landing/esp/events_<campaign>.csv`: the service's events
  (`event_id,campaign,type,email,phone,occurred_at`, ISO UTC with `Z`): a `send` to every
  exported address a few minutes after the conversion window opens, then `delivered` (97 %)
  or `bounce`; `open` for about 40 % of delivered messages (90 % for customers the message
  makes buy), `click` for 30 % of opens (60 % for them); `unsubscribe` (0.5 %) and `complaint`
  (0.1 %) of delivered ones. Email campaigns fill `email`, SMS campaigns `phone` (the address
  as exported). `landing/esp/events_summer_teaser.csv` holds 3 events of a campaign cdp.yaml
  does not declare: the platform quarantines them (`unknown_campaign`).
- `landing/shop/orders/orders_campaign_<campaign>.csv`: one extra shop order per customer the
  campaign converts, in the shop orders format (`order_number` `SO-Cnn-nnnnnn`, the person's
  shop account when they have one, USD, completed, web, the arm's coupon code), at a uniform
  time inside the conversion window.
- `ground_truth/campaign_effects.csv`, `campaign_truth.csv`, `campaign_potential_effects.csv`
  and a section of `ground_truth/README.md`: the text after the README_SECTION line below
  (added once; a rerun replaces it).

Export rows are matched to demo people by email (email files; also the person's second
address, case, spaces, `+tags` and Gmail dots ignored) or by mobile number (SMS files).
Unmatched rows get events but no effect; they are counted. The true effects are those of
`campaign_effects` (formulas there). Same inputs and seed → byte-identical files.

README_SECTION
## Campaign responses (`python -m cdp_assets.demo.campaign_responses`)
The campaign export files were "sent" by a simulated email/SMS service: its events are in
`../landing/esp/` and the purchases the campaigns caused are extra shop orders in
`../landing/shop/orders/orders_campaign_<campaign>.csv` (order numbers `SO-C…`). Customers in
control arms and the global control group got nothing; everyone's other orders were drawn
before any campaign existed, so the difference between treated and control customers is
exactly the extra orders. (`VIP20` is also an older shop coupon: some customers in every group
use it without the campaign.)

`campaign_effects.csv`: one row per exported customer: `campaign,arm,customer_id` (from the
export file), `email,phone` (as exported), `person_id` (empty when no demo person has that
address), `matched,duplicate,delivered`, `baseline_probability` (the approximate chance they
buy in the window anyway), `tau_if_delivered` (the true added probability of buying within the
conversion window that the message gives this person; 0 for unmatched rows and for a person
already exported in the campaign under another customer id), `tau` (the same, also 0 when
the message bounced: the effect that was drawn from), `converted_by_campaign` (true when the
message made them buy: one extra order), `order_number,ordered_at,extra_revenue` (USD, after
the arm's discount).

`campaign_truth.csv`: per campaign and treated arm: `exported,unmatched,duplicates,bounced`,
`mean_tau`, `expected_incremental_conversions` (sum of tau), `realised_incremental_conversions`
(the number of extra orders), `expected_incremental_revenue` (sum of tau × the mean extra
order total of the arm), `realised_incremental_revenue`.

`campaign_potential_effects.csv`: for every person, `baseline__<campaign>` (the chance of buying
in the window anyway) and `tau__<campaign>__<arm>` (the effect the arm's message would have if
it reached them), also for people in control groups: the truth an uplift model is judged by.

Effects are never negative and at most 15 pp: personalised recommendations help frequent,
satisfied buyers most; the generic coupon helps less, more evenly, more for infrequent and less
satisfied customers; the VIP offer is moderate and larger for loyalty members. Customers who
buy anyway gain little and lapsed customers gain most, so targeting by uplift beats
targeting by purchase probability.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import json
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from cdp_assets.activation.campaign_assignment import window_opens
from cdp_assets.activation.export_files import LATEST_FILE, file_sha256, read_export_file
from cdp_assets.demo.campaign_effects import (
    EFFECT_MODELS,
    Traits,
    baseline_probability,
    people_traits,
    true_effect,
)
from cdp_assets.demo.settings import DEFAULT_SEED

DAY = 86_400
CHANNELS = ("email", "sms")
ADDRESS_COLUMN = {"email": "email", "sms": "phone"}
ORDER_COLUMNS = (
    "order_number",
    "account_id",
    "email",
    "ordered_at",
    "total",
    "currency",
    "status",
    "channel",
    "coupon_code",
)
EVENT_COLUMNS = ("event_id", "campaign", "type", "email", "phone", "occurred_at")
EFFECT_COLUMNS = (
    "campaign",
    "arm",
    "customer_id",
    "email",
    "phone",
    "person_id",
    "matched",
    "duplicate",
    "delivered",
    "baseline_probability",
    "tau_if_delivered",
    "tau",
    "converted_by_campaign",
    "order_number",
    "ordered_at",
    "extra_revenue",
)
TRUTH_COLUMNS = (
    "campaign",
    "arm",
    "channel",
    "exported",
    "unmatched",
    "duplicates",
    "bounced",
    "mean_tau",
    "expected_incremental_conversions",
    "realised_incremental_conversions",
    "expected_incremental_revenue",
    "realised_incremental_revenue",
)
ORDER_PREFIX = "SO-C"
UNKNOWN_CAMPAIGN = "summer_teaser"
EVENT_ORDER = ("send", "delivered", "bounce", "open", "click", "unsubscribe", "complaint")
_SALT = 0x43414D50  # keeps these draws apart from the generator's

# The simulated service and customers.
BOUNCE_RATE = 0.03
OPEN_RATE, OPEN_RATE_CONVERTER = 0.40, 0.90
CLICK_RATE, CLICK_RATE_CONVERTER = 0.30, 0.60
UNSUBSCRIBE_RATE, COMPLAINT_RATE = 0.005, 0.001
SEND_SPREAD = (60, 20 * 60)  # seconds after the window opens
DELIVERY_DELAY = (2, 180)  # seconds after the send
OPEN_DELAY_MEAN = 8 * 3600  # seconds after delivery (exponential)
# Extra orders: subtotal log-normal like the demo's USD shop orders, then the discount and,
# under the free-shipping threshold, the fee (as commerce.py prices orders).
SUBTOTAL_MEDIAN_CENTS, SUBTOTAL_SIGMA = 8_500, 0.9
SUBTOTAL_RANGE_CENTS = (800, 200_000)
FREE_SHIPPING_CENTS, SHIPPING_FEE_CENTS = 5_000, 595


@dataclass(frozen=True)
class CampaignPlan:
    """A campaign as the service sees it: where its exports are, the channel, the conversion
    window, and its treated arms → (coupon_code, discount_percent). `effects` names the
    `campaign_effects` model of an arm; by default `coupon` for arms with a coupon or
    discount, else `recommendations`."""

    name: str
    destination: str
    channel: str
    window_opens: pd.Timestamp
    window_days: int
    arms: Mapping[str, tuple[str | None, float | None]]
    effects: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"{self.name}: channel {self.channel!r}, expected email or sms")
        if self.window_days < 1:
            raise ValueError(f"{self.name}: window_days must be at least 1")
        opens = pd.Timestamp(self.window_opens)
        if opens.tzinfo is None:
            raise ValueError(f"{self.name}: window_opens needs a time zone")
        object.__setattr__(self, "window_opens", opens.tz_convert("UTC"))
        object.__setattr__(self, "arms", dict(self.arms))
        object.__setattr__(self, "effects", dict(self.effects))
        for arm in self.effects:
            if arm not in self.arms:
                raise ValueError(f"{self.name}: effect given for unknown arm {arm!r}")
        for arm in self.arms:
            if self.effect_of(arm) not in EFFECT_MODELS:
                raise ValueError(f"{self.name}: arm {arm}: unknown effect {self.effect_of(arm)!r}")

    def effect_of(self, arm: str) -> str:
        coupon, discount = self.arms[arm]
        return self.effects.get(arm, "coupon" if coupon or discount else "recommendations")

    @property
    def opens_second(self) -> int:
        return int(self.window_opens.timestamp())

    @property
    def closes_second(self) -> int:
        """The first second after the window."""
        return self.opens_second + self.window_days * DAY


_OPENS = window_opens(dt.date(2026, 9, 1), "America/New_York")  # 2026-09-02 04:00 UTC
DEMO_CAMPAIGNS: tuple[CampaignPlan, ...] = (
    CampaignPlan(
        name="autumn_winback",
        destination="newsletter",
        channel="email",
        window_opens=_OPENS,
        window_days=21,
        arms={"personalised": (None, None), "generic": ("WINBACK15", 15.0)},
        effects={"personalised": "recommendations", "generic": "coupon"},
    ),
    CampaignPlan(
        name="vip_early_access",
        destination="sms_gateway",
        channel="sms",
        window_opens=_OPENS,
        window_days=14,
        arms={"offer": ("VIP20", 20.0)},
        effects={"offer": "vip_offer"},
    ),
)


@dataclass
class ArmResult:
    campaign: str
    arm: str
    channel: str
    exported: int = 0
    unmatched: int = 0
    duplicates: int = 0
    bounced: int = 0
    expected_conversions: float = 0.0
    conversions: int = 0
    expected_revenue: float = 0.0
    revenue_cents: int = 0
    export_id: str | None = None


@dataclass
class ResponseSummary:
    """What was simulated: per campaign arm, and the files written."""

    arms: list[ArmResult] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)  # file → rows
    orders: dict[str, int] = field(default_factory=dict)  # file → rows
    seconds: float = 0.0

    @property
    def unmatched(self) -> int:
        return sum(a.unmatched for a in self.arms)

    def text(self) -> str:
        lines = ["campaign responses:"]
        for a in self.arms:
            where = "no export found" if a.export_id is None else f"export {a.export_id}"
            lines.append(
                f"  {a.campaign}/{a.arm} ({a.channel}, {where}): {a.exported:,} exported, "
                f"{a.unmatched:,} unmatched, {a.bounced:,} bounced; incremental conversions "
                f"{a.conversions:,} (expected {a.expected_conversions:,.1f}), revenue "
                f"{a.revenue_cents / 100:,.2f} USD (expected {a.expected_revenue:,.2f})"
            )
        lines.append(
            f"  {sum(self.events.values()):,} service events in {len(self.events)} file(s), "
            f"{sum(self.orders.values()):,} extra orders; {self.seconds:.1f} s"
        )
        return "\n".join(lines)


# --- reading -------------------------------------------------------------------------------


def email_key(values: pd.Series) -> pd.Series:
    """Emails compared as one mailbox: trimmed, lower case, `+tag` dropped, Gmail dots
    dropped (googlemail.com = gmail.com). Empty → <NA>."""
    text = values.astype("string").str.strip().str.lower()
    text = text.mask(text == "")
    parts = text.str.extract(r"^([^@]+)@(.+)$")
    local, domain = parts[0].astype("string"), parts[1].astype("string")
    local = local.str.replace(r"\+.*$", "", regex=True)
    domain = domain.replace("googlemail.com", "gmail.com")
    gmail = domain == "gmail.com"
    local = local.mask(gmail.fillna(False), local.str.replace(".", "", regex=False))
    return (local + "@" + domain).astype("string")


def phone_key(values: pd.Series) -> pd.Series:
    """Phone numbers compared by their digits (E.164 without the '+')."""
    digits = values.astype("string").str.replace(r"\D", "", regex=True)
    return digits.mask(digits == "").astype("string")


def read_latest_export(audience_dir: Path) -> tuple[str, pd.DataFrame] | None:
    """(export_id, full file rows) of the export `latest.json` points to; None without one.
    The full file's checksum must match its manifest."""
    latest = audience_dir / LATEST_FILE
    if not latest.exists():
        return None
    pointer = json.loads(latest.read_text(encoding="utf-8"))
    manifest = json.loads((audience_dir / pointer["manifest"]).read_text(encoding="utf-8"))
    entry = manifest["files"]["full"]
    path = audience_dir / entry["path"]
    if "sha256" in entry and file_sha256(path.read_bytes()) != entry["sha256"]:
        raise ValueError(f"{path}: checksum differs from its manifest")
    return str(pointer["export_id"]), read_export_file(path)


def _read_rows(path: Path) -> list[list[str]]:
    """A landing CSV's rows (header first), UTF-8 or else Latin-1."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return list(csv.reader(text.splitlines()))


def account_ids_by_email(landing: Path) -> dict[str, str]:
    """email_key → the smallest shop account id with that address, from every
    `shop/accounts/*.csv` (rows that do not parse are skipped)."""
    found: dict[str, str] = {}
    for path in sorted((landing / "shop" / "accounts").glob("*.csv")):
        rows = _read_rows(path)
        if not rows:
            continue
        header = rows[0]
        if "account_id" not in header or "email" not in header:
            continue
        a, e = header.index("account_id"), header.index("email")
        good = [r for r in rows[1:] if len(r) == len(header) and r[a].strip() and r[e].strip()]
        keys = email_key(pd.Series([r[e] for r in good], dtype="string"))
        for key, row in zip(keys.tolist(), good, strict=True):
            if not isinstance(key, str):
                continue
            account = row[a].strip()
            if key not in found or account < found[key]:
                found[key] = account
    return found


def _check_order_numbers_free(orders_dir: Path) -> None:
    """No delivered shop order may already use the extra orders' prefix."""
    marker = f"\n{ORDER_PREFIX}".encode()
    for path in sorted(orders_dir.glob("*.csv")):
        if path.name.startswith("orders_campaign_"):
            continue
        if marker in path.read_bytes():
            raise ValueError(f"{path}: order numbers starting {ORDER_PREFIX} already exist")


# --- simulating ----------------------------------------------------------------------------


def _rng(seed: int, *scope: str) -> np.random.Generator:
    words = [zlib.crc32(s.encode("utf-8")) for s in scope]
    return np.random.default_rng(np.random.SeedSequence([_SALT, seed, *words]))


def _iso(seconds: np.ndarray) -> np.ndarray:
    stamps = np.datetime_as_string(np.asarray(seconds, dtype="datetime64[s]"), unit="s")
    return np.char.add(stamps.astype(str), "Z").astype(object)


def _money(cents: np.ndarray) -> list[str]:
    return [f"{c // 100}.{c % 100:02d}" for c in np.asarray(cents, dtype=np.int64).tolist()]


def _totals_cents(z: np.ndarray, discount_percent: float | None) -> np.ndarray:
    """Order totals (cents) from standard normal draws: log-normal subtotal, the discount,
    the shipping fee under the threshold."""
    subtotal = np.clip(
        np.round(SUBTOTAL_MEDIAN_CENTS * np.exp(SUBTOTAL_SIGMA * z)), *SUBTOTAL_RANGE_CENTS
    )
    off = (discount_percent or 0.0) / 100.0
    shipping = np.where(subtotal < FREE_SHIPPING_CENTS, SHIPPING_FEE_CENTS, 0)
    return (np.round(subtotal * (1 - off)) + shipping).astype(np.int64)


@functools.lru_cache(maxsize=32)
def mean_order_total(discount_percent: float | None, points: int = 20_000) -> float:
    """The mean extra order total in USD (deterministic: a quantile grid, not draws)."""
    normal = NormalDist()
    z = np.array([normal.inv_cdf((k + 0.5) / points) for k in range(points)])
    return float(_totals_cents(z, discount_percent).mean()) / 100.0


@dataclass
class _People:
    frame: pd.DataFrame
    traits: Traits
    email: np.ndarray  # object
    by_email: dict[str, int]
    by_phone: dict[str, int]

    @classmethod
    def of(cls, people: pd.DataFrame) -> _People:
        frame = people.reset_index(drop=True)
        by_email: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        for column, index, key in (
            ("email", by_email, email_key),
            ("alt_email", by_email, email_key),
            ("mobile", by_phone, phone_key),
        ):
            if column not in frame.columns:
                continue
            for i, k in enumerate(key(frame[column]).tolist()):
                if isinstance(k, str) and k not in index:
                    index[k] = i
        email = (
            frame["email"].astype("string").fillna("").to_numpy(dtype=object)
            if "email" in frame.columns
            else np.full(len(frame), "", dtype=object)
        )
        return cls(frame, people_traits(frame), email, by_email, by_phone)

    def match(self, channel: str, addresses: pd.Series) -> np.ndarray:
        """Position in people of each address, -1 when nobody has it."""
        keys = (email_key if channel == "email" else phone_key)(addresses)
        index = self.by_email if channel == "email" else self.by_phone
        return np.array(
            [index.get(k, -1) if isinstance(k, str) else -1 for k in keys.tolist()],
            dtype=np.int64,
        )


@dataclass
class _Campaign:
    """One campaign's exported rows and what happened to them."""

    plan: CampaignPlan
    arm: np.ndarray  # object
    customer_id: np.ndarray  # object
    address: np.ndarray  # object
    person: np.ndarray  # int, -1 unmatched
    duplicate: np.ndarray
    p0: np.ndarray
    tau_if_delivered: np.ndarray
    delivered: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(0))
    converted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    order_second: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    total_cents: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    order_number: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.arm)


def _potential(plan: CampaignPlan, people: _People, seed: int) -> dict[str, np.ndarray]:
    """tau of each treated arm, and the baseline, for every person."""
    open_day = plan.opens_second // DAY
    out = {"baseline": baseline_probability(people.traits, open_day, plan.window_days)}
    for arm in sorted(plan.arms):
        out[arm] = true_effect(
            plan.effect_of(arm), people.traits, open_day, plan.window_days, seed, plan.name, arm
        )
    return out


def _load_campaign(
    plan: CampaignPlan,
    exports_dir: Path,
    people: _People,
    potential: dict[str, np.ndarray],
    results: list[ArmResult],
) -> _Campaign:
    folder = exports_dir / plan.destination
    prefix = f"{plan.name}__"
    found = sorted(p.name[len(prefix) :] for p in folder.glob(f"{prefix}*") if p.is_dir())
    stray = [arm for arm in found if arm not in plan.arms]
    if stray:
        raise ValueError(
            f"{folder}: exports of {plan.name} arms {', '.join(stray)} that are not treated "
            f"arms of the plan ({', '.join(sorted(plan.arms))}): a control arm exported?"
        )
    address_column = ADDRESS_COLUMN[plan.channel]
    parts = []
    for arm in sorted(plan.arms):
        result = ArmResult(plan.name, arm, plan.channel)
        results.append(result)
        export = read_latest_export(folder / f"{prefix}{arm}")
        if export is None:
            continue
        result.export_id, rows = export
        missing = [c for c in ("customer_id", address_column) if c not in rows.columns]
        if missing:
            raise ValueError(f"{plan.name}/{arm}: export lacks column(s) {', '.join(missing)}")
        rows = rows[rows[address_column].notna()]
        part = pd.DataFrame(
            {
                "arm": arm,
                "customer_id": rows["customer_id"].astype("string").fillna(""),
                "address": rows[address_column].astype("string"),
            }
        )
        parts.append(part.sort_values(["customer_id", "address"], kind="stable"))
    rows = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"arm": [], "customer_id": [], "address": []}, dtype="string")
    )
    person = people.match(plan.channel, rows["address"])
    matched = person >= 0
    duplicate = matched & pd.Series(person).duplicated().to_numpy()
    arm = rows["arm"].astype(str).to_numpy(dtype=object)
    where = np.maximum(person, 0)
    tau = np.zeros(len(rows))
    for name in plan.arms:
        mine = arm == name
        tau[mine] = potential[name][where[mine]]
    tau = np.where(matched & ~duplicate, tau, 0.0)
    p0 = np.where(matched, potential["baseline"][where], np.nan)
    return _Campaign(
        plan=plan,
        arm=arm,
        customer_id=rows["customer_id"].astype(str).to_numpy(dtype=object),
        address=rows["address"].astype(str).to_numpy(dtype=object),
        person=person,
        duplicate=duplicate,
        p0=p0,
        tau_if_delivered=tau,
    )


def _simulate(c: _Campaign, seed: int, campaign_number: int) -> list[tuple]:
    """Draws delivery, conversions and extra orders into `c`; returns the event rows
    (second, row, type, channel address)."""
    plan, n = c.plan, len(c)
    rng = _rng(seed, "campaign", plan.name)
    # Every draw is made for every row, in a fixed order, whatever the outcomes.
    send = plan.opens_second + rng.integers(*SEND_SPREAD, n)
    c.delivered = rng.random(n) >= BOUNCE_RATE
    arrived = send + rng.integers(*DELIVERY_DELAY, n)
    c.tau = np.where(c.delivered, c.tau_if_delivered, 0.0)
    c.converted = rng.random(n) < c.tau
    order_at = plan.opens_second + 60 + rng.integers(0, plan.window_days * DAY - 120, n)
    z = rng.standard_normal(n)
    open_u, open_share, open_wait = rng.random(n), rng.random(n), rng.exponential(1.0, n)
    click_u, click_wait = rng.random(n), rng.integers(5, 600, n)
    opt_u, opt_wait = rng.random(n), rng.exponential(12 * 3600, n)
    last = plan.closes_second - 1

    opened = c.delivered & (open_u < np.where(c.converted, OPEN_RATE_CONVERTER, OPEN_RATE))
    # Customers who buy open the message before buying; the others within hours or days.
    before_order = arrived + (open_share * np.maximum(order_at - 660 - arrived, 30)).astype(int)
    later = arrived + 30 + (open_wait * OPEN_DELAY_MEAN).astype(np.int64)
    open_at = np.minimum(np.where(c.converted, before_order, later), last)
    clicked = opened & (click_u < np.where(c.converted, CLICK_RATE_CONVERTER, CLICK_RATE))
    click_at = np.minimum(open_at + click_wait, last)
    unsubscribed = c.delivered & (opt_u < UNSUBSCRIBE_RATE)
    complained = c.delivered & (opt_u >= UNSUBSCRIBE_RATE)
    complained &= opt_u < UNSUBSCRIBE_RATE + COMPLAINT_RATE
    opt_at = np.minimum(np.where(opened, open_at, arrived) + 10 + opt_wait.astype(int), last)

    totals = np.zeros(n, dtype=np.int64)
    for arm, (_, discount) in plan.arms.items():
        mine = c.arm == arm
        totals[mine] = _totals_cents(z[mine], discount)
    c.order_second = order_at
    c.total_cents = np.where(c.converted, totals, 0)
    buyers = np.flatnonzero(c.converted)
    buyers = buyers[np.lexsort((buyers, order_at[buyers]))]
    c.order_number = np.full(n, "", dtype=object)
    for k, row in enumerate(buyers.tolist(), start=1):
        c.order_number[row] = f"{ORDER_PREFIX}{campaign_number:02d}-{k:06d}"

    rows = np.arange(n)
    events = []
    for kind, mask, when in (
        ("send", np.ones(n, dtype=bool), send),
        ("delivered", c.delivered, arrived),
        ("bounce", ~c.delivered, arrived),
        ("open", opened, open_at),
        ("click", clicked, click_at),
        ("unsubscribe", unsubscribed, opt_at),
        ("complaint", complained, opt_at),
    ):
        events.extend(
            zip(when[mask].tolist(), rows[mask].tolist(), [kind] * int(mask.sum()), strict=True)
        )
    return events


# --- writing -------------------------------------------------------------------------------


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def _event_rows(c: _Campaign, events: list[tuple]) -> list[list[str]]:
    rank = {kind: k for k, kind in enumerate(EVENT_ORDER)}
    events.sort(key=lambda e: (e[0], e[1], rank[e[2]]))
    email = c.plan.channel == "email"
    stamps = _iso(np.array([e[0] for e in events], dtype=np.int64)).tolist()
    out = []
    for k, ((_, row, kind), stamp) in enumerate(zip(events, stamps, strict=True), start=1):
        address = c.address[row]
        out.append(
            [
                f"{c.plan.name}-{k:07d}",
                c.plan.name,
                kind,
                address if email else "",
                "" if email else address,
                stamp,
            ]
        )
    return out


def _order_rows(c: _Campaign, people: _People, accounts: Mapping[str, str]) -> list[list[str]]:
    buyers = np.flatnonzero(c.converted)
    buyers = buyers[np.lexsort((buyers, c.order_second[buyers]))]
    keys = email_key(pd.Series(people.email[c.person[buyers]], dtype="string")).tolist()
    alt = (
        email_key(people.frame["alt_email"].iloc[c.person[buyers]]).tolist()
        if "alt_email" in people.frame.columns
        else [None] * len(buyers)
    )
    when = _iso(c.order_second[buyers])
    totals = _money(c.total_cents[buyers])
    out = []
    for k, row in enumerate(buyers.tolist()):
        coupon, _ = c.plan.arms[c.arm[row]]
        account = accounts.get(keys[k]) if isinstance(keys[k], str) else None
        if account is None and isinstance(alt[k], str):
            account = accounts.get(alt[k])
        out.append(
            [
                c.order_number[row],
                account or "",
                people.email[c.person[row]],
                when[k],
                totals[k],
                "USD",
                "completed",
                "web",
                coupon or "",
            ]
        )
    return out


def _flag(values: np.ndarray) -> list[str]:
    return ["true" if v else "false" for v in np.asarray(values, dtype=bool).tolist()]


def _decimals(values: np.ndarray, places: int) -> list[str]:
    return ["" if np.isnan(v) else f"{v:.{places}f}" for v in np.asarray(values).tolist()]


def _effect_rows(c: _Campaign, people: _People) -> list[list[str]]:
    email = c.plan.channel == "email"
    person_id = [people.traits.person_id[p] if p >= 0 else "" for p in c.person.tolist()]
    when = _iso(c.order_second)
    money = _money(c.total_cents)
    columns = [
        [c.plan.name] * len(c),
        c.arm.tolist(),
        c.customer_id.tolist(),
        c.address.tolist() if email else [""] * len(c),
        [""] * len(c) if email else c.address.tolist(),
        person_id,
        _flag(c.person >= 0),
        _flag(c.duplicate),
        _flag(c.delivered),
        _decimals(c.p0, 6),
        _decimals(c.tau_if_delivered, 6),
        _decimals(c.tau, 6),
        _flag(c.converted),
        c.order_number.tolist(),
        [w if b else "" for w, b in zip(when.tolist(), c.converted.tolist(), strict=True)],
        money,
    ]
    return [list(row) for row in zip(*columns, strict=True)]


def _tally(c: _Campaign, results: list[ArmResult]) -> None:
    for result in results:
        if result.campaign != c.plan.name:
            continue
        mine = c.arm == result.arm
        _, discount = c.plan.arms[result.arm]
        result.exported = int(mine.sum())
        result.unmatched = int((mine & (c.person < 0)).sum())
        result.duplicates = int((mine & c.duplicate).sum())
        result.bounced = int((mine & ~c.delivered).sum())
        result.expected_conversions = float(c.tau[mine].sum())
        result.conversions = int(c.converted[mine].sum())
        result.expected_revenue = result.expected_conversions * mean_order_total(discount)
        result.revenue_cents = int(c.total_cents[mine].sum())


def _truth_rows(results: list[ArmResult]) -> list[list[str]]:
    return [
        [
            a.campaign,
            a.arm,
            a.channel,
            str(a.exported),
            str(a.unmatched),
            str(a.duplicates),
            str(a.bounced),
            f"{a.expected_conversions / a.exported:.6f}" if a.exported else "",
            f"{a.expected_conversions:.4f}",
            str(a.conversions),
            f"{a.expected_revenue:.2f}",
            f"{a.revenue_cents // 100}.{a.revenue_cents % 100:02d}",
        ]
        for a in results
    ]


def _unknown_campaign_rows(
    people: _People, seed: int, plans: Sequence[CampaignPlan]
) -> list[list[str]]:
    """A campaign cdp.yaml does not declare: one person's send, delivery and open, two weeks
    before the demo campaigns' windows open."""
    rng = _rng(seed, UNKNOWN_CAMPAIGN)
    start = min(p.opens_second for p in plans) - 14 * DAY + 15 * 3600
    has_email = np.flatnonzero(people.email != "")
    address = people.email[rng.choice(has_email)] if len(has_email) else "teaser@example.com"
    kinds = ("send", "delivered", "open")
    seconds = start + np.array([0, 40, 3 * 3600])
    return [
        [f"{UNKNOWN_CAMPAIGN}-{k + 1:07d}", UNKNOWN_CAMPAIGN, kind, address, "", iso]
        for k, (kind, iso) in enumerate(zip(kinds, _iso(seconds).tolist(), strict=True))
    ]


def _potential_table(
    people: _People, potentials: list[tuple[CampaignPlan, dict[str, np.ndarray]]]
) -> tuple[list[str], list[list[str]]]:
    columns = ["person_id"]
    values: list[list[str]] = [people.traits.person_id.tolist()]
    for plan, potential in potentials:
        columns.append(f"baseline__{plan.name}")
        values.append(_decimals(potential["baseline"], 6))
        for arm in sorted(plan.arms):
            columns.append(f"tau__{plan.name}__{arm}")
            values.append(_decimals(potential[arm], 6))
    return columns, [list(row) for row in zip(*values, strict=True)]


def _readme_section() -> str | None:
    doc = __doc__ or ""
    marker = "README_SECTION\n"
    return doc.split(marker, 1)[1] if marker in doc else None


def _add_readme_section(path: Path) -> None:
    section = _readme_section()
    if section is None:
        return
    heading = section.splitlines()[0]
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if heading in old:
        old = old[: old.index(heading)].rstrip("\n") + "\n"
    path.write_text((old + "\n" if old else "") + section, encoding="utf-8")


def simulate_responses(
    exports_dir: Path,
    landing_dir: Path,
    ground_truth_dir: Path,
    people: pd.DataFrame,
    seed: int,
    campaigns: Sequence[CampaignPlan] = DEMO_CAMPAIGNS,
) -> ResponseSummary:
    """Simulate the service and the customers for the campaigns' latest exports; write the
    events, the extra orders and the ground truth (see the module docstring)."""
    started = time.perf_counter()
    exports_dir, landing_dir, ground_truth_dir = (
        Path(exports_dir),
        Path(landing_dir),
        Path(ground_truth_dir),
    )
    names = [p.name for p in campaigns]
    if len(set(names)) != len(names) or UNKNOWN_CAMPAIGN in names:
        raise ValueError(f"campaign names must be unique and not {UNKNOWN_CAMPAIGN!r}: {names}")
    if not campaigns:
        raise ValueError("no campaigns to simulate")
    orders_dir = landing_dir / "shop" / "orders"
    esp_dir = landing_dir / "esp"
    _check_order_numbers_free(orders_dir)
    for stale in [*orders_dir.glob("orders_campaign_*.csv"), *esp_dir.glob("events_*.csv")]:
        stale.unlink()
    ground_truth_dir.mkdir(parents=True, exist_ok=True)

    folks = _People.of(people)
    accounts = account_ids_by_email(landing_dir)
    summary = ResponseSummary()
    effect_rows: list[list[str]] = []
    potentials = []
    for number, plan in enumerate(campaigns, start=1):
        potential = _potential(plan, folks, seed)
        potentials.append((plan, potential))
        c = _load_campaign(plan, exports_dir, folks, potential, summary.arms)
        events = _simulate(c, seed, number)
        event_file = esp_dir / f"events_{plan.name}.csv"
        event_rows = _event_rows(c, events)
        _write_csv(event_file, EVENT_COLUMNS, event_rows)
        summary.events[str(event_file.relative_to(landing_dir))] = len(event_rows)
        order_file = orders_dir / f"orders_campaign_{plan.name}.csv"
        order_rows = _order_rows(c, folks, accounts)
        _write_csv(order_file, ORDER_COLUMNS, order_rows)
        summary.orders[str(order_file.relative_to(landing_dir))] = len(order_rows)
        effect_rows.extend(_effect_rows(c, folks))
        _tally(c, summary.arms)

    unknown_file = esp_dir / f"events_{UNKNOWN_CAMPAIGN}.csv"
    unknown_rows = _unknown_campaign_rows(folks, seed, campaigns)
    _write_csv(unknown_file, EVENT_COLUMNS, unknown_rows)
    summary.events[str(unknown_file.relative_to(landing_dir))] = len(unknown_rows)

    _write_csv(ground_truth_dir / "campaign_effects.csv", EFFECT_COLUMNS, effect_rows)
    _write_csv(ground_truth_dir / "campaign_truth.csv", TRUTH_COLUMNS, _truth_rows(summary.arms))
    columns, rows = _potential_table(folks, potentials)
    _write_csv(ground_truth_dir / "campaign_potential_effects.csv", columns, rows)
    _add_readme_section(ground_truth_dir / "README.md")
    summary.seconds = time.perf_counter() - started
    return summary


def read_people(path: Path) -> pd.DataFrame:
    """people.csv as text columns (empty fields → <NA>)."""
    return pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])


def main(argv: list[str] | None = None) -> None:
    """`python -m cdp_assets.demo.campaign_responses --data DIR --exports DIR --seed S`."""
    parser = argparse.ArgumentParser(
        prog="python -m cdp_assets.demo.campaign_responses",
        description="Simulate the email/SMS service and the customers' response to the demo "
        "campaigns' exports: service events and extra orders under DIR/landing, the true "
        "effects under DIR/ground_truth.",
    )
    parser.add_argument("--data", type=Path, default=Path("data"), help="the demo set folder")
    parser.add_argument("--exports", type=Path, default=Path("exports"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    truth = args.data / "ground_truth"
    summary = simulate_responses(
        exports_dir=args.exports,
        landing_dir=args.data / "landing",
        ground_truth_dir=truth,
        people=read_people(truth / "people.csv"),
        seed=args.seed,
        campaigns=DEMO_CAMPAIGNS,
    )
    print(summary.text())


if __name__ == "__main__":
    main()
