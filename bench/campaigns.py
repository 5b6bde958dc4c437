"""Benchmark: campaign measurement and the uplift model — interval coverage against known
effects, speed at a million customers, and the uplift model on the demo's campaign loop.

    .venv/bin/python bench/campaigns.py [--seeds 25] [--people 20000] [--replicates 1]
        [--scale-customers 1000000] [--scale-campaigns 10]
        [--uplift-people 20000] [--uplift-retry-people 40000] [--uplift-seed 42]
        [--skip-coverage] [--skip-scale] [--skip-uplift] [--workdir DIR]

1. Coverage (target: the 95 % intervals cover the true effect in at least 90 % of the
   experiments). For each generator seed, the demo's own population (`make_population` with
   the seed's population stream, exactly as `generate_demo` draws it, written by `write_people`
   and read back, so the traits are the demo's people.csv) and the demo's true effects
   (`true_effect`, `baseline_probability`) for the campaign (default `autumn_winback` of
   cdp.yaml: personalised 40 / generic 40 / control 20, 21-day window opening at the end of
   its start day). Audience: everyone acquired by the start day who is still active or lapsed
   less than `--lapsed-days` (400, the `lapsed_buyers` recency bound) days before the window
   opens. The platform assigns (`draw_arms`, `in_global_control` with the configured 5 %; salt
   `<assignment_salt>|bench|<seed>|<replicate>`, so each experiment is a fresh
   randomisation); global-control customers are left out as the asset does. Each customer is
   reachable (consent) with probability `--consent-share` (0.4), independently of the arm.
   Outcomes are drawn like the demo's: baseline orders in the window ~ Poisson(rate x active
   days / 365.25) (so P(at least one) is exactly p0), orders in the 180 pre-period days the
   same way (the CUPED covariate), totals from the demo's order-total distribution; a
   reachable treated customer also gets one extra order with probability tau (the demo's
   simulated service: the extra order is added whether or not they buy anyway; the arm's
   discount applies to its total). The orders go through the platform's `campaign_results`.

   Truths per treated arm, over the analysed audience U (assigned to any arm, global control
   excluded), reach_i the consent flag:
   * expected (the estimand the intervals target: the ITT effect had all of U been assigned to
     the arm rather than to control, in expectation over the outcome draws, given this
     population and its consent flags): conversion mean_U reach*tau*(1-p0); revenue per
     assigned customer mean_U reach*tau * E[extra order total of the arm]
     (`mean_order_total` of the arm's discount; baseline revenue cancels).
   * realised (finite population: every potential outcome is drawn before assignment, the
     arm-vs-control difference of those draws over U): conversion mean_U reach*extra*no_base,
     revenue mean_U reach*extra*extra_total.
   Coverage is reported against both, per arm, with the mean estimate, the mean truths and the
   mean interval widths (revenue with and without CUPED; the platform has no CUPED for
   conversion). `--replicates R` draws R randomisations and outcome sets per population (more
   experiments, smaller Monte Carlo error).

2. Scale (target: `campaign_results` for 1,000,000 customers and 10 campaigns under 60 s on
   2 cores). Synthetic customers and ~5 orders each over 21 months, 10 campaigns whose
   audiences grow from 10 % to 100 % of the customers (100k to 1M assigned), arms 40/40/20,
   80/20, 90/10, 50/50, windows 21/14/10/7 days. Phase one (its own process) times
   `assign_campaigns` for all of them at once (global control 5 %); phase two (a fresh
   process) adds 2 % extra orders for treated customers, exports for 60 % of the treated, ESP
   events for them (send, 97 % delivered, 40 % opened, 30 % of those clicked) and times
   `campaign_results` for the 10 campaigns, then (outside the target) the marketing programme
   against the global control group and the cumulative conversion curves, as the asset does.

3. Uplift model vs targeting. The real loop on a generated demo, as `make demo` runs it:
   `python -m cdp_assets.demo --people P --seed S --end-date 2026-11-20 --history-days 1095`,
   cdp.yaml copied next to it, a fresh DAGSTER_HOME; `dagster asset materialize` as of
   2026-09-01 with the Makefile's `data/landing/esp` selection (assign and export), the
   simulated email service (`python -m cdp_assets.demo.campaign_responses`), everything but
   the models as of 2026-11-20, then `dagster job execute -j train_models`. Reads the
   `ml/uplift_model` materialization (promoted or not, chosen model, Qini), re-runs
   `train_uplift` on the same examples (`_examples` of the asset; deterministic) for the
   held-out Qini of both learners, of random targeting and of purchase-probability ranking,
   checks the same scores without outcome noise against the demo's true effects
   (campaign_potential_effects.csv; held-out customers mapped to people through their
   `core.customer_xref` records and ground_truth/identity.csv), and prints the demo's ground
   truth (ground_truth/campaign_truth.csv, and sum tau*(1-p0) from campaign_effects.csv)
   next to `analytics.campaign_results`. When the
   model reports not enough data at P people, for any offer (an offer is skipped) or for all,
   the loop runs again at `--uplift-retry-people`. A Dagster step that fails in the loop is
   reported; the run goes on as far as it can (assets left out because of it are
   materialized alone afterwards).

Temporary data goes under /tmp (or `--workdir`, kept; a finished uplift run there is reused).
Each part prints its own table; `--skip-*` leave parts out. The last line is the JSON of all
figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchlib import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever is installed

END_DATE = dt.date(2026, 11, 20)  # the demo's end date: results are measured as of it
HISTORY_DAYS = 1095  # as `make demo`
CAMPAIGN_START = dt.date(2026, 9, 1)  # the Makefile's CAMPAIGN_START
DAY = 86_400
PRE_PERIOD_DAYS = 180  # campaign_results' default
TARGET_COVERAGE = 0.90
TARGET_SCALE_SECONDS = 60.0
# The Makefile's selections (targets data/landing/esp and materialize).
SELECT_ASSIGN = (
    'not group:ml and not group:ml_training and not group:privacy and not key:"*/erasure_requests"'
)
SELECT_TODAY = "not group:ml and not group:ml_training"


# -- helpers ---------------------------------------------------------------------------------


def current_rss_mb() -> float:
    """This process's resident memory now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase(name: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Runs `campaigns.py --phase NAME ARGS` in a fresh process (its own peak memory),
    with its progress on our stderr, and returns the JSON object it prints last."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--phase", name, *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        raise SystemExit(f"bench phase {name!r} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A plain fixed-width table of dicts."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _day_numbers(values: pd.Series) -> np.ndarray:
    when = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    days = (when - pd.Timestamp("1970-01-01")).dt.days
    return days.fillna(np.iinfo(np.int64).max // 2).to_numpy(dtype=np.int64)


def _utc(seconds: np.ndarray) -> pd.Series:
    stamps = np.asarray(np.round(seconds), dtype=np.int64).astype("datetime64[s]")
    return pd.Series(pd.to_datetime(stamps.astype("datetime64[us]"), utc=True))


def _ids(prefix: str, numbers: np.ndarray, width: int = 0) -> pd.Series:
    """Arrow-backed string ids PREFIX + zero-padded number, built without Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string())
    if width:
        text = pc.utf8_lpad(text, width, "0")
    joined = pc.binary_join_element_wise(prefix, text, "")
    return pd.Series(pd.arrays.ArrowStringArray(joined), dtype="string")


# -- 1. coverage -----------------------------------------------------------------------------


def _population(seed: int, people: int, folder: Path) -> pd.DataFrame:
    """The demo's people.csv for (people, seed), as `generate_demo` draws and writes it."""
    from cdp_assets.demo.campaign_responses import read_people
    from cdp_assets.demo.people import make_population
    from cdp_assets.demo.places import COUNTRIES
    from cdp_assets.demo.settings import DemoSettings
    from cdp_assets.demo.truth_files import write_people

    settings = DemoSettings(people=people, seed=seed, end_date=END_DATE, history_days=HISTORY_DAYS)
    pop_seq, _, _ = np.random.SeedSequence(seed).spawn(3)  # generate_demo's population stream
    pop = make_population(np.random.default_rng(pop_seq), settings)
    path = folder / f"people_{seed}.csv"
    write_people(path, pop, COUNTRIES)
    frame = read_people(path)
    path.unlink()
    return frame


def _experiment(
    ctx: dict[str, Any], aud: dict[str, np.ndarray], seed: int, replicate: int
) -> list[dict[str, Any]]:
    """One randomised experiment on one population: assignment, outcomes, the platform's
    results, and the truths; a dict per treated arm."""
    from cdp_assets.activation.campaign_assignment import draw_arms, in_global_control
    from cdp_assets.analytics.campaign_results import campaign_results
    from cdp_assets.demo.campaign_responses import _totals_cents

    campaign, design, plan = ctx["campaign"], ctx["design"], ctx["plan"]
    n = len(aud["ids"])
    rng = np.random.default_rng(np.random.SeedSequence([0xCA3B, seed, replicate]))
    open_s, window_s = ctx["open_second"], campaign.conversion_window_days * DAY
    # Potential outcomes of every audience member, drawn before assignment.
    reach = rng.random(n) < ctx["consent_share"]
    base_count = rng.poisson(aud["lam"])
    pre_count = rng.poisson(aud["lam_pre"])
    extra = {a: rng.random(n) < aud["tau"][a] for a in ctx["treated"]}
    extra_total = {
        a: _totals_cents(rng.standard_normal(n), plan.arms[a][1]) / 100.0 for a in ctx["treated"]
    }
    extra_at = {
        a: open_s + 60 + rng.integers(0, window_s - 120, n).astype(np.float64)
        for a in ctx["treated"]
    }

    salt = f"{ctx['salt']}|bench|{seed}|{replicate}"
    arms = draw_arms(aud["ids"], campaign, salt)
    held_out = in_global_control(aud["ids"], salt, ctx["global_control_share"])
    keep = ~held_out
    idx = np.flatnonzero(keep)

    # orders: baseline orders in the window, pre-period orders, the campaign's extra orders
    parts = []
    rows = np.repeat(idx, base_count[idx])
    at = open_s + rng.random(len(rows)) * aud["active_s"][rows]
    parts.append((rows, at, _totals_cents(rng.standard_normal(len(rows)), None) / 100.0, None))
    rows = np.repeat(idx, pre_count[idx])
    at = aud["pre_from_s"][rows] + rng.random(len(rows)) * (
        aud["pre_to_s"][rows] - aud["pre_from_s"][rows]
    )
    parts.append((rows, at, _totals_cents(rng.standard_normal(len(rows)), None) / 100.0, None))
    for a in ctx["treated"]:
        got = np.flatnonzero(keep & (arms == a) & reach & extra[a])
        parts.append((got, extra_at[a][got], extra_total[a][got], plan.arms[a][0]))
    # the CUPED covariate's correlation with baseline window revenue (diagnostic)
    y = np.bincount(parts[0][0], weights=parts[0][2], minlength=n)[idx]
    x = np.bincount(parts[1][0], weights=parts[1][2], minlength=n)[idx]
    rho = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
    customer = np.concatenate([p[0] for p in parts])
    coupon = np.concatenate(
        [np.full(len(p[0]), p[3] if p[3] else None, dtype=object) for p in parts]
    )
    orders = pd.DataFrame(
        {
            "customer_id": aud["ids"].to_numpy()[customer],
            "order_id": [f"B{k}" for k in range(len(customer))],
            "ordered_at": _utc(np.concatenate([p[1] for p in parts])),
            "net_amount_base": np.concatenate([p[2] for p in parts]),
            "is_purchase": True,
            "coupon_code": pd.Series(coupon, dtype="string"),
        }
    )
    assignments = pd.DataFrame(
        {
            "campaign": campaign.name,
            "customer_id": aud["ids"].iloc[idx].to_numpy(),
            "arm": arms[idx],
            "assigned_at": ctx["assigned_at"],
        }
    )
    sent = keep & reach & np.isin(arms, list(ctx["treated"]))
    exported = pd.DataFrame(
        {"campaign": campaign.name, "arm": arms[sent], "customer_id": aud["ids"][sent].to_numpy()}
    )
    events = pd.DataFrame(columns=["campaign", "customer_id", "event_type", "occurred_at"])
    results = campaign_results([design], assignments, exported, events, orders, as_of=END_DATE)
    results = results.set_index("arm")

    out = []
    no_base = base_count[idx] == 0
    for a in ctx["treated"]:
        row = results.loc[a]
        tau, p0 = aud["tau"][a][idx], aud["p0"][idx]
        r = reach[idx]
        truth = {
            "conversion_expected": float(np.mean(r * tau * (1 - p0))),
            "conversion_realised": float(np.mean(r & extra[a][idx] & no_base)),
            "revenue_expected": float(np.mean(r * tau)) * ctx["mean_total"][a],
            "revenue_realised": float(np.mean(r * extra[a][idx] * extra_total[a][idx])),
        }
        measured = {}
        for metric, column in (
            ("conversion", "conversion_uplift"),
            ("revenue", "revenue_uplift"),
            ("cuped_revenue", "cuped_revenue_uplift"),
        ):
            measured[metric] = (
                float(row[column]),
                float(row[f"{column}_low"]),
                float(row[f"{column}_high"]),
            )
        out.append(
            {
                "seed": seed,
                "replicate": replicate,
                "arm": a,
                "assigned": int(row["assigned"]),
                "control_assigned": int(results.loc[campaign.control_arm, "assigned"]),
                "control_conversion": float(results.loc[campaign.control_arm, "conversion_rate"]),
                "srm_detected": bool(row["srm_detected"]),
                "rho_pre_window": rho,
                "truth": truth,
                "measured": measured,
            }
        )
    return out


def coverage_phase(args: argparse.Namespace) -> dict[str, Any]:
    from cdp_assets.activation.campaign_assignment import window_opens
    from cdp_assets.analytics.campaign_results import design_of
    from cdp_assets.config import load_config
    from cdp_assets.demo.campaign_effects import baseline_probability, people_traits, true_effect
    from cdp_assets.demo.campaign_responses import DEMO_CAMPAIGNS, mean_order_total

    config = load_config(REPO / "cdp.yaml")
    campaign = next(c for c in config.campaigns if c.name == args.campaign)
    plan = next(p for p in DEMO_CAMPAIGNS if p.name == args.campaign)
    design = design_of(campaign)
    opens = window_opens(campaign.start, config.timezone)
    open_second = int(opens.timestamp())
    open_day = open_second // DAY
    window = campaign.conversion_window_days
    treated = [a.name for a in campaign.arms if not a.control]
    ctx = {
        "campaign": campaign,
        "design": design,
        "plan": plan,
        "treated": treated,
        "open_second": open_second,
        "assigned_at": opens,
        "salt": config.activation.assignment_salt,
        "global_control_share": config.activation.global_control_share,
        "consent_share": args.consent_share,
        "mean_total": {a: mean_order_total(plan.arms[a][1]) for a in treated},
    }
    folder = Path(tempfile.mkdtemp(prefix="bench_campaigns_cov_", dir=args.tmp))
    experiments: list[dict[str, Any]] = []
    audience_sizes = []
    started = time.perf_counter()
    try:
        for seed in range(args.seed0, args.seed0 + args.seeds):
            people = _population(seed, args.people, folder)
            traits = people_traits(people)
            acquired = _day_numbers(people["acquired_on"])
            churn = traits.churn_day
            member = (acquired < open_day) & (churn > open_day - args.lapsed_days)
            where = np.flatnonzero(member)
            audience_sizes.append(len(where))
            p0 = baseline_probability(traits, open_day, window)
            taus = {
                a: true_effect(plan.effect_of(a), traits, open_day, window, seed, campaign.name, a)
                for a in treated
            }
            active = np.clip(churn - open_day, 0, window)
            pre_from = np.maximum(acquired * DAY, open_second - PRE_PERIOD_DAYS * DAY)
            pre_to = np.minimum(churn * DAY, open_second)
            pre_span = np.maximum(pre_to - pre_from, 0)
            rate = traits.rate
            aud = {
                "ids": pd.Series(traits.person_id[where], dtype="string"),
                "p0": p0[where],
                "lam": (rate * active / 365.25)[where],
                "active_s": (active * DAY).astype(np.float64)[where],
                "lam_pre": (rate * pre_span / DAY / 365.25)[where],
                "pre_from_s": pre_from[where].astype(np.float64),
                "pre_to_s": (pre_from + pre_span)[where].astype(np.float64),
                "tau": {a: t[where] for a, t in taus.items()},
            }
            for replicate in range(args.replicates):
                experiments.extend(_experiment(ctx, aud, seed, replicate))
            log(
                f"coverage: seed {seed}: audience {len(where):,} of {args.people:,} "
                f"({time.perf_counter() - started:.0f} s)"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "campaign": campaign.name,
        "arms": {a.name: a.share for a in campaign.arms},
        "window_days": window,
        "window_opens": str(opens),
        "people": args.people,
        "seeds": args.seeds,
        "replicates": args.replicates,
        "consent_share": args.consent_share,
        "lapsed_days": args.lapsed_days,
        "mean_audience": float(np.mean(audience_sizes)),
        "experiments": experiments,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def coverage_summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per arm and metric: coverage against both truths, mean estimate and truths, mean
    interval width, with the Monte Carlo standard error of the coverage."""
    rows = []
    frame = pd.DataFrame(result["experiments"])
    for arm, part in frame.groupby("arm", sort=False):
        for metric, truth_key in (
            ("conversion", "conversion"),
            ("revenue", "revenue"),
            ("cuped_revenue", "revenue"),
        ):
            est = np.array([m[metric][0] for m in part["measured"]])
            low = np.array([m[metric][1] for m in part["measured"]])
            high = np.array([m[metric][2] for m in part["measured"]])
            expected = np.array([t[f"{truth_key}_expected"] for t in part["truth"]])
            realised = np.array([t[f"{truth_key}_realised"] for t in part["truth"]])
            cover_e = float(np.mean((low <= expected) & (expected <= high)))
            cover_r = float(np.mean((low <= realised) & (realised <= high)))
            n = len(part)
            rows.append(
                {
                    "arm": arm,
                    "metric": metric,
                    "experiments": n,
                    "coverage_expected": cover_e,
                    "coverage_realised": cover_r,
                    "coverage_se": float(np.sqrt(max(cover_e * (1 - cover_e), 1e-12) / n)),
                    "mean_estimate": float(est.mean()),
                    "mean_truth_expected": float(expected.mean()),
                    "mean_truth_realised": float(realised.mean()),
                    "rmse_vs_expected": float(np.sqrt(np.mean((est - expected) ** 2))),
                    "mean_width": float(np.mean(high - low)),
                    "mean_assigned": float(part["assigned"].mean()),
                    "mean_control_assigned": float(part["control_assigned"].mean()),
                    "mean_control_conversion": float(part["control_conversion"].mean()),
                    "srm_detected": int(part["srm_detected"].sum()),
                    "mean_rho_pre_window": float(part["rho_pre_window"].mean()),
                }
            )
    return rows


def print_coverage(result: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    print(
        f"\n== 1. Coverage: {result['campaign']} (arms {result['arms']}, "
        f"{result['window_days']}-day window from {result['window_opens']}), "
        f"{result['seeds']} seeds x {result['replicates']} replicate(s), "
        f"{result['people']:,} people per seed, mean audience {result['mean_audience']:,.0f} "
        f"(acquired by the start, active or lapsed < {result['lapsed_days']} days), "
        f"reachable {result['consent_share']:.0%}; {result['seconds']} s, "
        f"peak RSS {result['peak_rss_mb']:,} MB"
    )
    shown = []
    for r in rows:
        scale, unit = (100.0, "pp") if r["metric"] == "conversion" else (1.0, "USD")
        shown.append(
            {
                "arm": r["arm"],
                "metric": r["metric"],
                "n": r["experiments"],
                "cover (expected)": f"{r['coverage_expected']:.1%} ± {r['coverage_se']:.1%}",
                "cover (realised)": f"{r['coverage_realised']:.1%}",
                "mean estimate": f"{r['mean_estimate'] * scale:.3f} {unit}",
                "mean truth exp.": f"{r['mean_truth_expected'] * scale:.3f} {unit}",
                "mean truth real.": f"{r['mean_truth_realised'] * scale:.3f} {unit}",
                "RMSE": f"{r['rmse_vs_expected'] * scale:.3f}",
                "mean CI width": f"{r['mean_width'] * scale:.3f} {unit}",
                "target ≥90%": "met" if r["coverage_expected"] >= TARGET_COVERAGE else "NOT met",
            }
        )
    print(table(shown))
    arm_rows = {r["arm"]: r for r in rows if r["metric"] == "conversion"}
    for arm, r in arm_rows.items():
        raw = next(x for x in rows if x["arm"] == arm and x["metric"] == "revenue")
        cuped = next(x for x in rows if x["arm"] == arm and x["metric"] == "cuped_revenue")
        print(
            f"  {arm}: mean assigned {r['mean_assigned']:,.0f} vs control "
            f"{r['mean_control_assigned']:,.0f} (control conversion "
            f"{r['mean_control_conversion']:.2%}); revenue CI width {raw['mean_width']:.3f} → "
            f"{cuped['mean_width']:.3f} USD with CUPED "
            f"({1 - cuped['mean_width'] / raw['mean_width']:.1%} narrower; corr(pre-period, "
            f"window revenue) {r['mean_rho_pre_window']:.3f}, so about "
            f"{1 - np.sqrt(1 - r['mean_rho_pre_window'] ** 2):.1%} is all CUPED can gain); "
            f"SRM flagged in {r['srm_detected']} of {r['experiments']} experiments"
        )


# -- 2. scale --------------------------------------------------------------------------------

SCALE_ARMS = (
    (("personalised", 40, False), ("generic", 40, False), ("control", 20, True)),
    (("offer", 80, False), ("control", 20, True)),
    (("early_access", 90, False), ("control", 10, True)),
    (("test", 50, False), ("control", 50, True)),
)
SCALE_WINDOWS = (21, 14, 10, 7)
SCALE_ASSIGN_DAY = CAMPAIGN_START
SCALE_SALT = "cdp"
SCALE_GLOBAL_CONTROL = 0.05
SCALE_TIMEZONE = "America/New_York"


def scale_campaigns(count: int) -> list[Any]:
    from cdp_assets.config.campaigns import CampaignArm, CampaignConfig

    campaigns = []
    for k in range(count):
        arms = tuple(
            CampaignArm(name=name, share=share, control=control)
            for name, share, control in SCALE_ARMS[k % len(SCALE_ARMS)]
        )
        campaigns.append(
            CampaignConfig(
                name=f"campaign_{k + 1:02d}",
                audience=f"audience_{k + 1:02d}",
                destinations=("newsletter",),
                start=SCALE_ASSIGN_DAY,
                end=SCALE_ASSIGN_DAY + dt.timedelta(days=29),
                arms=arms,
                conversion_window_days=SCALE_WINDOWS[k % len(SCALE_WINDOWS)],
                primary_metric="conversion" if k % 2 == 0 else "revenue",
            )
        )
    return campaigns


def _scale_ids(customers: int) -> pd.Series:
    return _ids("C", np.arange(customers), 9)


def scale_assign_phase(args: argparse.Namespace) -> dict[str, Any]:
    from cdp_assets.activation.campaign_assignment import assign_campaigns

    started = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([0x5CA1E, args.seed0]))
    ids = _scale_ids(args.scale_customers)
    campaigns = scale_campaigns(args.scale_campaigns)
    sizes = np.linspace(0.1, 1.0, len(campaigns)) * args.scale_customers
    parts = []
    for campaign, size in zip(campaigns, sizes.round().astype(np.int64), strict=True):
        chosen = np.sort(rng.choice(args.scale_customers, size=size, replace=False))
        parts.append(
            pd.DataFrame(
                {"audience": campaign.audience, "customer_id": ids.iloc[chosen].to_numpy()}
            )
        )
    members = pd.concat(parts, ignore_index=True).astype({"audience": "string"})
    del parts
    generate_s = time.perf_counter() - started
    rss_inputs = current_rss_mb()
    log(f"scale: {len(members):,} audience members generated in {generate_s:.1f} s; assigning")
    started = time.perf_counter()
    assignments = assign_campaigns(
        campaigns,
        members,
        None,
        SCALE_ASSIGN_DAY,
        SCALE_SALT,
        SCALE_GLOBAL_CONTROL,
        SCALE_TIMEZONE,
    )
    assign_s = time.perf_counter() - started
    log(f"scale: {len(assignments):,} assignments in {assign_s:.1f} s")
    assignments.to_parquet(Path(args.scale_dir) / "assignments.parquet", index=False)
    per_campaign = assignments.groupby("campaign").size()
    return {
        "customers": args.scale_customers,
        "campaigns": len(campaigns),
        "members": len(members),
        "assignments": len(assignments),
        "global_control": int((assignments["arm"] == "global_control").sum()),
        "smallest_campaign": int(per_campaign.min()),
        "largest_campaign": int(per_campaign.max()),
        "generate_seconds": round(generate_s, 2),
        "assign_seconds": round(assign_s, 2),
        "rss_inputs_mb": round(rss_inputs),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def scale_results_phase(args: argparse.Namespace) -> dict[str, Any]:
    from cdp_assets.activation.campaign_assignment import ASSIGNMENT_DTYPES, GLOBAL_CONTROL
    from cdp_assets.analytics.campaign_results import (
        campaign_results,
        cumulative_conversion_curves,
        design_of,
        marketing_programme,
    )

    started = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([0x5CA1E, args.seed0, 2]))
    n = args.scale_customers
    ids = _scale_ids(n)
    campaigns = scale_campaigns(args.scale_campaigns)
    designs = [design_of(c) for c in campaigns]
    assignments = pd.read_parquet(Path(args.scale_dir) / "assignments.parquet").astype(
        ASSIGNMENT_DTYPES
    )
    # ~5 orders per customer over 21 months (so every pre-period and window has orders)
    first = dt.datetime(2025, 3, 1, tzinfo=dt.UTC).timestamp()
    last = dt.datetime(2026, 11, 21, tzinfo=dt.UTC).timestamp()
    counts = rng.poisson(5.0, n)
    customer = np.repeat(np.arange(n), counts)
    m = len(customer)
    order_seconds = first + rng.random(m) * (last - first)
    amount = np.round(np.exp(rng.normal(4.2, 0.9, m)), 2)
    purchase = rng.random(m) < 0.97
    # the campaigns' effect: 2 % of treated customers buy once more in their window
    treated_arms = {a.name for c in campaigns for a in c.arms if not a.control}
    treated = assignments[assignments["arm"].isin(treated_arms)]
    lucky = treated[rng.random(len(treated)) < 0.02]
    window = lucky["campaign"].map({c.name: c.conversion_window_days for c in campaigns})
    lucky_seconds = (
        lucky["assigned_at"].astype("int64").to_numpy() / 1e6
        + rng.random(len(lucky)) * window.to_numpy(dtype=np.float64) * DAY
    )
    lucky_customer = np.asarray(
        lucky["customer_id"].str.slice(1).astype("int64").to_numpy(), dtype=np.int64
    )
    all_customer = np.concatenate([customer, lucky_customer])
    total = len(all_customer)
    coupon = np.full(total, None, dtype=object)
    coupon[rng.random(total) < 0.01] = "WINBACK15"
    orders = pd.DataFrame(
        {
            "customer_id": ids.iloc[all_customer].to_numpy(),
            "order_id": _ids("O", np.arange(total), 10).to_numpy(),
            "ordered_at": _utc(np.concatenate([order_seconds, lucky_seconds])),
            "net_amount_base": np.concatenate(
                [amount, np.round(np.exp(rng.normal(4.2, 0.9, len(lucky))), 2)]
            ),
            "is_purchase": np.concatenate([purchase, np.ones(len(lucky), dtype=bool)]),
            "coupon_code": pd.Series(coupon, dtype="string"),
        }
    )
    del customer, order_seconds, amount, purchase, coupon
    # exports: 60 % of the treated (consent); ESP events for them
    exported = treated[rng.random(len(treated)) < 0.6][["campaign", "arm", "customer_id"]]
    exported = exported.reset_index(drop=True)
    k = len(exported)
    base = assignments.set_index(["campaign", "customer_id"])["assigned_at"]
    send_s = base.reindex(pd.MultiIndex.from_frame(exported[["campaign", "customer_id"]])).astype(
        "int64"
    ).to_numpy() / 1e6 + rng.integers(60, 1200, k)
    delivered = rng.random(k) < 0.97
    opened = delivered & (rng.random(k) < 0.40)
    clicked = opened & (rng.random(k) < 0.30)
    event_parts = []
    for kind, mask, offset in (
        ("send", np.ones(k, dtype=bool), 0.0),
        ("delivered", delivered, 60.0),
        ("open", opened, 8 * 3600.0),
        ("click", clicked, 8 * 3600.0 + 300),
    ):
        rows = np.flatnonzero(mask)
        event_parts.append(
            pd.DataFrame(
                {
                    "campaign": exported["campaign"].to_numpy()[rows],
                    "customer_id": exported["customer_id"].to_numpy()[rows],
                    "event_type": kind,
                    "occurred_at": _utc(send_s[rows] + offset),
                }
            )
        )
    events = pd.concat(event_parts, ignore_index=True).astype(
        {"campaign": "string", "customer_id": "string", "event_type": "string"}
    )
    del event_parts
    in_arms = assignments[assignments["arm"] != GLOBAL_CONTROL].reset_index(drop=True)
    generate_s = time.perf_counter() - started
    rss_inputs = current_rss_mb()
    log(
        f"scale: {len(orders):,} orders, {len(exported):,} exported, {len(events):,} events "
        f"generated in {generate_s:.1f} s; measuring"
    )

    started = time.perf_counter()
    results = campaign_results(designs, in_arms, exported, events, orders, as_of=END_DATE)
    results_s = time.perf_counter() - started
    peak_results = peak_rss_mb()
    log(f"scale: campaign_results in {results_s:.1f} s")
    started = time.perf_counter()
    programme = marketing_programme(designs, assignments, SCALE_GLOBAL_CONTROL)
    total_rows = 0
    if programme is not None:
        design, rows = programme
        total = campaign_results([design], rows, exported, events, orders, as_of=END_DATE)
        total_rows = len(total)
    programme_s = time.perf_counter() - started
    started = time.perf_counter()
    curves = cumulative_conversion_curves(designs, in_arms, orders, END_DATE)
    curves_s = time.perf_counter() - started
    srm = results.drop_duplicates("campaign")["srm_detected"].fillna(False).astype(bool)
    treated_rows = results[~results["is_control"]]
    return {
        "assigned_in_arms": len(in_arms),
        "orders": len(orders),
        "exported": len(exported),
        "events": len(events),
        "result_rows": len(results),
        "programme_rows": total_rows,
        "curve_rows": len(curves),
        "srm_flagged": int(srm.sum()),
        "mean_conversion_uplift": float(treated_rows["conversion_uplift"].mean()),
        "generate_seconds": round(generate_s, 2),
        "results_seconds": round(results_s, 2),
        "programme_seconds": round(programme_s, 2),
        "curves_seconds": round(curves_s, 2),
        "rss_inputs_mb": round(rss_inputs),
        "peak_rss_results_mb": round(peak_results),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def print_scale(a: dict[str, Any], r: dict[str, Any]) -> None:
    print(
        f"\n== 2. Scale: {a['customers']:,} customers, {a['campaigns']} campaigns "
        f"({a['smallest_campaign']:,}–{a['largest_campaign']:,} assigned each, "
        f"{a['assignments']:,} assignments of which {a['global_control']:,} global control), "
        f"{r['orders']:,} orders, {r['exported']:,} exported, {r['events']:,} ESP events"
    )
    rows = [
        {
            "step": "assign_campaigns (10 campaigns, one call)",
            "seconds": f"{a['assign_seconds']:.1f}",
            "RSS with inputs": f"{a['rss_inputs_mb']:,} MB",
            "peak RSS": f"{a['peak_rss_mb']:,} MB",
        },
        {
            "step": "campaign_results (10 campaigns) — target",
            "seconds": f"{r['results_seconds']:.1f}",
            "RSS with inputs": f"{r['rss_inputs_mb']:,} MB",
            "peak RSS": f"{r['peak_rss_results_mb']:,} MB",
        },
        {
            "step": "marketing programme vs global control",
            "seconds": f"{r['programme_seconds']:.1f}",
            "RSS with inputs": "",
            "peak RSS": "",
        },
        {
            "step": "cumulative conversion curves",
            "seconds": f"{r['curves_seconds']:.1f}",
            "RSS with inputs": "",
            "peak RSS": f"{r['peak_rss_mb']:,} MB",
        },
    ]
    print(table(rows))
    verdict = "met" if r["results_seconds"] < TARGET_SCALE_SECONDS else "NOT met"
    print(
        f"  target (< {TARGET_SCALE_SECONDS:.0f} s for campaign_results): {verdict}; "
        f"asset's results total (campaigns + programme) "
        f"{r['results_seconds'] + r['programme_seconds']:.1f} s; data generation "
        f"{a['generate_seconds']:.1f} s + {r['generate_seconds']:.1f} s (not timed); "
        f"SRM flagged in {r['srm_flagged']} of {a['campaigns']} campaigns; "
        f"mean conversion uplift {r['mean_conversion_uplift'] * 100:.2f} pp (2 % of the "
        f"treated get one extra order in their window: 2 % x (1 - base conversion))"
    )


# -- 3. uplift model on the demo loop --------------------------------------------------------


def _loop_env(root: Path, as_of: dt.date) -> dict[str, str]:
    env = os.environ.copy()
    env.pop("CDP_WAREHOUSE_URL", None)  # cdp.yaml's warehouse, next to the copy
    env.update(
        DAGSTER_HOME=str(root / "dagster_home"),
        CDP_CONFIG=str(root / "cdp.yaml"),
        CDP_AS_OF=as_of.isoformat(),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def _failures(log_text: str) -> tuple[list[str], list[str]]:
    """(failed steps and checks, asset keys skipped for a failed dependency) of a CLI run log."""
    failed = sorted(set(re.findall(r'Execution of step "([a-z0-9_]+)" failed', log_text)))
    failed += sorted(
        set(re.findall(r"Asset check '([a-z0-9_]+)' on '([^']+)' did not pass", log_text))
    )
    skipped = re.findall(r"Dependencies for step ([a-z0-9_]+) failed", log_text)
    errors = re.findall(r"^((?!dagster)[A-Za-z_][\w.]*(?:Error|Exception): .*)$", log_text, re.M)
    named = [str(f) if isinstance(f, str) else f"{f[1]}:{f[0]}" for f in failed]
    return named + list(dict.fromkeys(errors))[:3], [
        k.replace("__", "/") for k in sorted(set(skipped))
    ]


def run_loop(root: Path, people: int, seed: int) -> dict[str, Any]:
    """The demo's campaign loop, as the Makefile runs it, into `root`: step seconds, and the
    failures of any Dagster step (the run goes on as far as it can; assets left out because
    a dependency failed are then materialized alone; both are reported)."""
    done = root / "loop_done.json"
    if done.exists():
        log(f"uplift: reusing the finished loop in {root}")
        return json.loads(done.read_text())
    if root.exists():
        shutil.rmtree(root)
    (root / "dagster_home").mkdir(parents=True)
    shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    shutil.copy(REPO / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    python = sys.executable
    dagster = str(Path(sys.executable).parent / "dagster")
    materialize = [dagster, "asset", "materialize", "-m", "cdp_assets.definitions", "--select"]
    steps = [
        (
            "demo",
            CAMPAIGN_START,
            [python, "-m", "cdp_assets.demo", "--people", str(people), "--seed", str(seed),
             "--end-date", END_DATE.isoformat(), "--history-days", str(HISTORY_DAYS),
             "--out", str(root / "data")],
        ),
        ("assign_and_export_2026_09_01", CAMPAIGN_START, [*materialize, SELECT_ASSIGN]),
        (
            "campaign_responses",
            CAMPAIGN_START,
            [python, "-m", "cdp_assets.demo.campaign_responses", "--data", str(root / "data"),
             "--exports", str(root / "exports"), "--seed", str(seed)],
        ),
        ("materialize_2026_11_20", END_DATE, [*materialize, SELECT_TODAY]),
        (
            "train_models",
            END_DATE,
            [dagster, "job", "execute", "-m", "cdp_assets.definitions", "-j", "train_models"],
        ),
    ]  # fmt: skip
    info: dict[str, Any] = {"seconds": {}, "failures": {}}

    def run(name: str, as_of: dt.date, argv: list[str]) -> tuple[int, str]:
        log(f"uplift: {people:,} people: {name} …")
        started = time.perf_counter()
        path = root / f"{name}.log"
        with open(path, "w", encoding="utf-8") as out:
            proc = subprocess.run(
                argv, cwd=root, env=_loop_env(root, as_of), stdout=out, stderr=subprocess.STDOUT
            )
        info["seconds"][name] = round(time.perf_counter() - started, 1)
        log(f"uplift: {name} {info['seconds'][name]} s (exit {proc.returncode})")
        return proc.returncode, path.read_text(encoding="utf-8", errors="replace")

    for name, as_of, argv in steps:
        code, text = run(name, as_of, argv)
        if code == 0:
            continue
        failed, skipped = _failures(text)
        if not (argv[0] == dagster and failed):
            sys.stderr.write(text[-6000:])
            raise SystemExit(f"uplift loop step {name!r} failed (log: {root / f'{name}.log'})")
        info["failures"][name] = {"failed": failed, "skipped": skipped}
        log(f"uplift: {name}: failed {failed}; skipped {skipped}")
        if skipped:
            selection = ",".join(f'key:"{k}"' for k in skipped)
            code, text = run(f"{name}_skipped", as_of, [*materialize, selection])
            if code != 0:
                sys.stderr.write(text[-6000:])
                raise SystemExit(f"uplift loop step {name}_skipped failed")
    done.write_text(json.dumps(info))
    return info


def _customer_person(session: Any, truth_dir: Path) -> pd.Series:
    """customer_id -> the demo person most of its customer records belong to (the platform's
    `core.customer_xref` records joined to the ground truth's identity.csv)."""
    xref = session.query(
        "SELECT customer_id, source, source_record_id FROM core.customer_xref "
        "WHERE identity_kind = 'record'"
    )
    identity = pd.read_csv(truth_dir / "identity.csv", dtype="string")
    both = xref.astype("string").merge(identity, on=["source", "source_record_id"])
    both = both.dropna(subset=["person_id"])
    counts = both.groupby(["customer_id", "person_id"]).size().rename("n").reset_index()
    best = counts.sort_values(["customer_id", "n"], ascending=[True, False])
    return best.drop_duplicates("customer_id").set_index("customer_id")["person_id"]


def oracle_check(training: Any, person: pd.Series, potential: pd.DataFrame) -> list[dict]:
    """Noise-free check on the held-out customers: how each score ranks them by their true
    effect if the offer reaches them (`tau__<campaign>__<arm>` of the demo's ground truth).
    Per offer and model: Spearman correlation of score and true tau, and the mean true tau
    of the top 30 % by score over the mean of all (1 = random; `oracle`: ranked by tau)."""
    from scipy.stats import spearmanr

    from cdp_assets.ml.uplift import PURCHASE_PROBABILITY, RANDOM, arm_comparisons

    holdout = training.holdout
    comparisons = arm_comparisons(holdout, training.control_arms, training.arms)
    purchase = training.purchase_model.predict(holdout)
    taus = potential.set_index("person_id")
    rows = []
    for arm, comparison in comparisons.items():
        frame = holdout.iloc[comparison.rows]
        who = frame["customer_id"].astype("string").map(person)
        tau = np.full(len(frame), np.nan)
        for campaign in comparison.campaigns:
            column = f"tau__{campaign}__{arm}"
            mine = (frame["campaign"].astype(str) == campaign).to_numpy() & who.notna().to_numpy()
            if column in taus.columns and mine.any():
                tau[mine] = taus[column].reindex(who[mine].to_numpy()).to_numpy(dtype=float)
        known = ~np.isnan(tau)
        scores = {
            "oracle (true tau)": tau,
            PURCHASE_PROBABILITY: purchase[comparison.rows],
            **{
                name: model.learners[arm].predict_uplift(frame)
                for name, model in training.models.items()
                if arm in model.learners
            },
        }
        for name, score in scores.items():
            s, t = np.asarray(score, dtype=float)[known], tau[known]
            top = np.argsort(-s, kind="stable")[: max(1, int(round(0.3 * len(s))))]
            rows.append(
                {
                    "offer": arm,
                    "model": name,
                    "held_out": len(frame),
                    "with_truth": int(known.sum()),
                    "spearman_vs_true_tau": float(spearmanr(s, t).statistic),
                    "true_tau_lift_top_30": float(t[top].mean() / t.mean()),
                }
            )
        rows.append(
            {
                "offer": arm,
                "model": RANDOM,
                "held_out": len(frame),
                "with_truth": int(known.sum()),
                "spearman_vs_true_tau": 0.0,
                "true_tau_lift_top_30": 1.0,
            }
        )
    return rows


def uplift_report_phase(args: argparse.Namespace) -> dict[str, Any]:
    """In the loop's environment: the uplift model's materialization, the re-run training's
    full held-out table, the demo's truth and the measured campaign results."""
    import dagster as dg

    from cdp_assets.analytics.campaign_results import CAMPAIGN_RESULT_DTYPES
    from cdp_assets.config import load_config, warehouse_url
    from cdp_assets.config.loader import as_of_date
    from cdp_assets.defs.catalog import CAMPAIGN_RESULTS
    from cdp_assets.defs.ml.uplift import _examples
    from cdp_assets.ml.churn import NotEnoughData
    from cdp_assets.ml.uplift import train_uplift
    from cdp_assets.warehouse import Warehouse

    root = Path(args.loop_dir)
    out: dict[str, Any] = {}
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["ml", "uplift_model"]))
    meta = {}
    if event is not None and event.asset_materialization is not None:
        for key, value in event.asset_materialization.metadata.items():
            raw = getattr(value, "value", value)
            if key in ("metrics", "by_offer"):
                meta[key] = str(raw)
            elif isinstance(raw, (int, float, bool)) or (isinstance(raw, str) and len(raw) < 2000):
                meta[key] = raw
    out["materialization"] = meta

    config = load_config()
    as_of = as_of_date(config)
    warehouse = Warehouse(warehouse_url(config))
    with warehouse.transaction() as session:
        examples, controls = _examples(session, config, as_of)
        results = (
            session.read_table(CAMPAIGN_RESULTS, dtypes=CAMPAIGN_RESULT_DTYPES)
            if session.table_exists(CAMPAIGN_RESULTS)
            else pd.DataFrame()
        )
        person = _customer_person(session, root / "data" / "ground_truth")
    if len(examples):
        counts = (
            examples.groupby(["campaign", "arm"])
            .agg(rows=("customer_id", "size"), converters=("converted", "sum"))
            .reset_index()
        )
        out["examples"] = counts.to_dict("records")
    else:
        out["examples"] = []
    try:
        if examples.empty:
            raise NotEnoughData("no campaign with a control arm whose window has closed")
        training = train_uplift(examples, controls)
        cols = ["model", "baseline", "qini", "auuc", "uplift_top_10", "uplift_top_30"]
        out["metrics"] = training.metrics[cols].to_dict("records")
        out["arm_metrics"] = training.arm_metrics[
            ["model", "arm", "rows", "treated", "control", "qini", "uplift_top_30"]
        ].to_dict("records")
        out["champion"] = training.champion
        out["beats_random"] = training.beats_random
        out["beats_purchase_probability"] = training.beats_purchase_probability
        out["skipped_arms"] = training.skipped_arms
        out["counts"] = training.counts
        out["status"] = "trained"
        potential = pd.read_csv(
            root / "data" / "ground_truth" / "campaign_potential_effects.csv",
            dtype={"person_id": "string"},
        )
        out["oracle"] = oracle_check(training, person, potential)
    except NotEnoughData as exc:
        out["status"] = f"not enough data: {exc}"

    truth_dir = root / "data" / "ground_truth"
    truth = pd.read_csv(truth_dir / "campaign_truth.csv")
    effects = pd.read_csv(truth_dir / "campaign_effects.csv")
    effects["converter_tau"] = effects["tau"].fillna(0) * (
        1 - effects["baseline_probability"].fillna(0)
    )
    converters = effects.groupby(["campaign", "arm"])["converter_tau"].sum()
    rows = []
    measured = results.set_index(["campaign", "arm"]) if len(results) else None
    for t in truth.itertuples(index=False):
        row = {
            "campaign": t.campaign,
            "arm": t.arm,
            "exported": int(t.exported),
            "truth_sum_tau": float(t.expected_incremental_conversions),
            "truth_sum_tau_1_p0": float(converters.get((t.campaign, t.arm), 0.0)),
            "truth_realised_orders": int(t.realised_incremental_conversions),
            "truth_expected_revenue": float(t.expected_incremental_revenue),
            "truth_realised_revenue": float(t.realised_incremental_revenue),
        }
        if measured is not None and (t.campaign, t.arm) in measured.index:
            m = measured.loc[(t.campaign, t.arm)]
            n = float(m["assigned"])
            row.update(
                {
                    "assigned": int(n),
                    "measured_conversions": float(m["conversion_uplift"]) * n,
                    "measured_conversions_low": float(m["conversion_uplift_low"]) * n,
                    "measured_conversions_high": float(m["conversion_uplift_high"]) * n,
                    "measured_revenue": float(m["revenue_uplift"]) * n,
                    "measured_revenue_low": float(m["revenue_uplift_low"]) * n,
                    "measured_revenue_high": float(m["revenue_uplift_high"]) * n,
                    "measured_cuped_revenue": float(m["cuped_revenue_uplift"]) * n,
                    "measured_cuped_low": float(m["cuped_revenue_uplift_low"]) * n,
                    "measured_cuped_high": float(m["cuped_revenue_uplift_high"]) * n,
                    "coupon_redemptions": None
                    if pd.isna(m["coupon_redemptions"])
                    else int(m["coupon_redemptions"]),
                }
            )
        rows.append(row)
    out["truth_vs_measured"] = rows
    if measured is not None:
        keep = ["campaign", "arm", "assigned", "exported", "converters", "conversion_rate"]
        keep += ["revenue_per_assigned", "primary_metric", "primary_uplift", "primary_low"]
        keep += ["primary_high", "primary_p_value", "srm_p_value"]
        out["results"] = results[keep].astype(object).where(results[keep].notna(), None)
        out["results"] = out["results"].to_dict("records")
    return out


def print_uplift(people: int, seed: int, loop: dict[str, Any], rep: dict[str, Any]) -> None:
    meta = rep["materialization"]
    print(
        f"\n== 3. Uplift model on the demo loop: {people:,} people, seed {seed}; loop steps "
        + ", ".join(f"{k} {v:.0f} s" for k, v in loop["seconds"].items())
    )
    for step, failure in loop["failures"].items():
        after = (
            f"the assets it left out ({', '.join(failure['skipped'])}) were materialized alone "
            "after it"
            if failure["skipped"]
            else "no other asset was left out"
        )
        print(f"  LOOP FAILURE in {step}: {', '.join(failure['failed'])}; {after}")
    print(
        f"  ml/uplift_model materialization: status {meta.get('status')!r}, promoted "
        f"{meta.get('promoted')}, candidate {meta.get('candidate')}, qini {meta.get('qini')}, "
        f"offers {meta.get('offers')!r}, skipped {meta.get('offers_skipped')!r}"
    )
    if meta.get("decision"):
        print(f"  decision: {meta['decision']}")
    if rep["examples"]:
        print("  examples (assigned customers with features, window closed):")
        print(table(rep["examples"]))
    if rep["status"] != "trained":
        print(f"  re-run train_uplift: {rep['status']}")
    else:
        print(
            f"  held-out (re-run of train_uplift on the same examples; chosen "
            f"{rep['champion']}; beats random {rep['beats_random']}, beats purchase "
            f"probability {rep['beats_purchase_probability']}; counts {rep['counts']}):"
        )
        print(
            table(
                [
                    {
                        k: (f"{v:.4f}" if isinstance(v, float) else v)
                        for k, v in r.items()
                        if k != "baseline"
                    }
                    for r in rep["metrics"]
                ]
            )
        )
        print("  per offer:")
        print(
            table(
                [
                    {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()}
                    for r in rep["arm_metrics"]
                ]
            )
        )
    if rep.get("oracle"):
        print(
            "  noise-free check on the held-out customers: each score against the true effect "
            "if reached (ground truth tau; customers mapped to people by their records):"
        )
        print(
            table(
                [
                    {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()}
                    for r in rep["oracle"]
                ]
            )
        )
    print("  ground truth vs analytics.campaign_results (incremental = uplift x assigned):")
    shown = []
    for r in rep["truth_vs_measured"]:
        conv = (
            f"{r['measured_conversions']:.1f} [{r['measured_conversions_low']:.1f}, "
            f"{r['measured_conversions_high']:.1f}]"
            if "measured_conversions" in r
            else "n/a"
        )
        rev = (
            f"{r['measured_revenue']:,.0f} [{r['measured_revenue_low']:,.0f}, "
            f"{r['measured_revenue_high']:,.0f}]"
            if "measured_revenue" in r
            else "n/a"
        )
        cuped = (
            f"{r['measured_cuped_revenue']:,.0f} [{r['measured_cuped_low']:,.0f}, "
            f"{r['measured_cuped_high']:,.0f}]"
            if "measured_cuped_revenue" in r
            else "n/a"
        )
        shown.append(
            {
                "campaign/arm": f"{r['campaign']}/{r['arm']}",
                "assigned": r.get("assigned", ""),
                "exported": r["exported"],
                "Σtau(1-p0)": f"{r['truth_sum_tau_1_p0']:.1f}",
                "Σtau": f"{r['truth_sum_tau']:.1f}",
                "extra orders": r["truth_realised_orders"],
                "measured incr. conversions [95% CI]": conv,
                "true revenue exp./real.": f"{r['truth_expected_revenue']:,.0f} / "
                f"{r['truth_realised_revenue']:,.0f}",
                "measured incr. revenue [CI]": rev,
                "CUPED [CI]": cuped,
            }
        )
    print(table(shown))


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, default=25, help="coverage: generator seeds")
    parser.add_argument("--seed0", type=int, default=1, help="coverage/scale: first seed")
    parser.add_argument("--people", type=int, default=20_000, help="coverage: people per seed")
    parser.add_argument("--replicates", type=int, default=1, help="coverage: draws per seed")
    parser.add_argument("--campaign", default="autumn_winback", help="coverage: campaign")
    parser.add_argument("--consent-share", type=float, default=0.4)
    parser.add_argument("--lapsed-days", type=int, default=400)
    parser.add_argument("--scale-customers", type=int, default=1_000_000)
    parser.add_argument("--scale-campaigns", type=int, default=10)
    parser.add_argument("--uplift-people", type=int, default=20_000)
    parser.add_argument(
        "--uplift-retry-people",
        type=int,
        default=40_000,
        help="run the loop again at this size when the model has not enough data (0: no)",
    )
    parser.add_argument("--uplift-seed", type=int, default=42)
    parser.add_argument("--skip-coverage", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-uplift", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None, help="kept (and reused) when given")
    parser.add_argument("--tmp", default="/tmp", help=argparse.SUPPRESS)
    parser.add_argument("--scale-dir", help=argparse.SUPPRESS)
    parser.add_argument("--loop-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        handlers = {
            "coverage": coverage_phase,
            "scale-assign": scale_assign_phase,
            "scale-results": scale_results_phase,
            "uplift-report": uplift_report_phase,
        }
        print(json.dumps(handlers[args.phase](args), default=str))
        return 0

    started = time.perf_counter()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench_campaigns_", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    passthrough = [
        "--seeds", str(args.seeds), "--seed0", str(args.seed0), "--people", str(args.people),
        "--replicates", str(args.replicates), "--campaign", args.campaign,
        "--consent-share", str(args.consent_share), "--lapsed-days", str(args.lapsed_days),
        "--scale-customers", str(args.scale_customers),
        "--scale-campaigns", str(args.scale_campaigns), "--tmp", str(root),
    ]  # fmt: skip
    try:
        if not args.skip_coverage:
            result = phase("coverage", *passthrough)
            rows = coverage_summary(result)
            print_coverage(result, rows)
            summary["coverage"] = {k: v for k, v in result.items() if k != "experiments"} | {
                "by_arm": rows
            }
        if not args.skip_scale:
            scale_dir = root / "scale"
            scale_dir.mkdir(exist_ok=True)
            a = phase("scale-assign", *passthrough, "--scale-dir", str(scale_dir))
            r = phase("scale-results", *passthrough, "--scale-dir", str(scale_dir))
            print_scale(a, r)
            summary["scale"] = {"assign": a, "results": r}
            shutil.rmtree(scale_dir, ignore_errors=True)
        if not args.skip_uplift:
            sizes = [args.uplift_people]
            if args.uplift_retry_people and args.uplift_retry_people != args.uplift_people:
                sizes.append(args.uplift_retry_people)
            summary["uplift"] = []
            for people in sizes:
                loop_dir = root / f"loop_{people}_{args.uplift_seed}"
                loop = run_loop(loop_dir, people, args.uplift_seed)
                report = phase(
                    "uplift-report",
                    "--loop-dir",
                    str(loop_dir),
                    env=_loop_env(loop_dir, END_DATE),
                )
                print_uplift(people, args.uplift_seed, loop, report)
                summary["uplift"].append({"people": people, "loop": loop} | report)
                meta = report["materialization"]
                status = str(meta.get("status", ""))
                skipped = str(meta.get("offers_skipped", "none"))
                if status == "trained" and report["status"] == "trained" and skipped == "none":
                    break
                if people != sizes[-1]:
                    why = status if status != "trained" else f"offers skipped: {skipped}"
                    print(f"  not enough data at {people:,} people ({why}): trying a larger demo")
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    total = time.perf_counter() - started
    print(f"\ntotal: {total:.0f} s ({total / 60:.1f} min)")
    summary["total_seconds"] = round(total, 1)
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
