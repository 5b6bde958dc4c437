"""The campaign loop end to end on a small brand: assignment, per-arm exports with offers,
controls never exported, responses as sources, measured results."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from cdp_assets.activation.export_files import read_export_file
from cdp_assets.warehouse import dispose_engines
from cdp_assets_tests.e2e.pipeline import DemoProject, load_definitions, project_env, run_job

PEOPLE = 400


def _accounts() -> str:
    lines = ["id,email,first,newsletter,confirmed"]
    for i in range(PEOPLE):
        opted = "true" if i % 10 else "false"  # one in ten never opted in
        lines.append(
            f"A{i:04d},shopper.{i:04d}@gmail.com,Kim,{opted},2025-01-0{1 + i % 9}T10:00:00Z"
        )
    return "\n".join(lines) + "\n"


def _orders() -> str:
    lines = ["order,customer,when,total,coupon"]
    for i in range(PEOPLE):
        lines.append(f"O{i:05d},A{i:04d},2026-0{1 + i % 9}-15 10:00:00,{20 + i % 50}.00,")
    return "\n".join(lines) + "\n"


def _project(tmp_path: Path) -> DemoProject:
    files = {"accounts/1.csv": _accounts(), "orders/1.csv": _orders()}
    for name, content in files.items():
        path = tmp_path / "landing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    config = {
        "landing_dir": "landing",
        "timezone": "UTC",
        "sources": [
            {
                "name": "accounts",
                "kind": "customers",
                "format": "csv",
                "path": "accounts/*.csv",
                "columns": {
                    "source_record_id": "id",
                    "email": "email",
                    "first_name": "first",
                    "email_opt_in": "newsletter",
                    "email_opt_in_confirmed_at": "confirmed",
                },
            },
            {
                "name": "orders",
                "kind": "orders",
                "format": "csv",
                "path": "orders/*.csv",
                "customer_ref_source": "accounts",
                "columns": {
                    "order_id": "order",
                    "customer_ref": "customer",
                    "ordered_at": "when",
                    "amount": "total",
                    "coupon_code": "coupon",
                },
            },
        ],
        "analytics": {"audiences": [{"name": "buyers", "rule": "frequency >= 1"}]},
        "exports": {"destinations": [{"name": "newsletter", "channel": "email"}]},
        "activation": {"global_control_share": 0.05},
        "campaigns": [
            {
                "name": "spring",
                "audience": "buyers",
                "destinations": ["newsletter"],
                "start": "2026-11-01",
                "end": "2026-11-30",
                "arms": [
                    {"name": "coupon", "share": 50, "offer": "coupon", "coupon_code": "SPRING10"},
                    {"name": "picks", "share": 30, "offer": "recommendations"},
                    {"name": "control", "share": 20, "control": True},
                ],
            }
        ],
    }
    config_path = tmp_path / "cdp.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return DemoProject(tmp_path, config_path, tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}")


def _latest_full(root: Path, label: str) -> pd.DataFrame:
    folder = root / "exports" / "newsletter" / label
    manifest = yaml.safe_load((folder / "latest.json").read_text())["export_id"]
    return read_export_file(folder / manifest / "full.csv")


def test_assignment_and_per_arm_exports(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }
    assert checks[("activation/campaign_exports", "no_control_member_exported")]
    assert checks[("activation/campaign_exports", "exported_people_consented")]
    assert checks[("activation/campaign_exports", "no_erased_people_in_exports")]

    assignments = project.table("activation", "campaign_assignments")
    assert len(assignments) == PEOPLE and assignments["customer_id"].is_unique
    shares = assignments["arm"].value_counts(normalize=True)
    assert 0.02 < shares["global_control"] < 0.09
    assert 0.12 < shares["control"] < 0.28 and 0.38 < shares["coupon"] < 0.56

    coupon = _latest_full(tmp_path, "spring__coupon")
    picks = _latest_full(tmp_path, "spring__picks")
    assert not (tmp_path / "exports" / "newsletter" / "spring__control").exists()
    by_arm = assignments.set_index("customer_id")["arm"]
    assert (coupon["customer_id"].map(by_arm) == "coupon").all()
    assert (picks["customer_id"].map(by_arm) == "picks").all()
    assert (coupon["coupon_code"] == "SPRING10").all() and (coupon["offer"] == "coupon").all()
    assert picks["coupon_code"].isna().all() and (picks["offer"] == "recommendations").all()
    # Everyone of the arm with a confirmed opt-in is in its file, nobody else.
    profiles = project.table("core", "customer_profiles").set_index("customer_id")
    consented = set(profiles.index[profiles["email_consent"].fillna(False)])
    expected = set(by_arm.index[by_arm == "coupon"]) & consented
    assert set(coupon["customer_id"]) == expected and len(expected) > 100

    recipients = project.table("activation", "campaign_recipients")
    assert set(recipients["customer_id"]) == set(coupon["customer_id"]) | set(picks["customer_id"])


def _suppress_email(project: DemoProject, email: str) -> None:
    """Put one email on the suppression list, as an erasure request would."""
    from cdp_assets.config import load_config
    from cdp_assets.privacy.erasure import append_suppression
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.suppression import SUPPRESSION_DTYPES, privacy_salt, salt_fingerprint
    from cdp_assets.warehouse import Warehouse, coerce_frame, dispose_engines

    with project_env(project):
        salt = privacy_salt(load_config(project.config_path))
    erased = Identifiers()
    erased.add("email", [email])
    rows = erased.hashes(salt).assign(
        request_id="REQ-1",
        added_at=pd.Timestamp.now(tz="UTC"),
        salt_fingerprint=salt_fingerprint(salt),
    )
    with Warehouse(project.warehouse_url).transaction() as session:
        assert append_suppression(session, coerce_frame(rows, SUPPRESSION_DTYPES)) == 1
    dispose_engines()


def test_a_campaign_file_holding_an_erased_persons_email_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: were the selection to let a suppressed address through (a defect,
    injected here), the staged campaign files are scanned against the suppression list, the
    blocking check fails, and nothing is published: latest.json, the export log and the
    recipients stay as they were, and no staged folder is left behind. (The consent audit,
    which reads the staged files too, counts the address as one without consent.)"""
    from cdp_assets.activation.audience_selection import apply_consent
    from cdp_assets.defs.activation import campaigns as campaigns_module
    from cdp_assets.defs.unchanged import RECOMPUTE_TAG

    project = _project(tmp_path)
    folder = tmp_path / "exports" / "newsletter" / "spring__coupon"
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
        first = yaml.safe_load((folder / "latest.json").read_text())["export_id"]
        coupon = _latest_full(tmp_path, "spring__coupon")
        log_before = project.table("activation", "campaign_exports")
        recipients_before = project.table("activation", "campaign_recipients")
        erased = str(coupon["email"].iloc[0])
        _suppress_email(project, erased)

        def suppression_ignored(members: pd.DataFrame, channel: str):  # the injected defect
            return apply_consent(members.assign(suppressed=False), channel)

        monkeypatch.setattr(campaigns_module, "apply_consent", suppression_ignored)
        with project_env(project):
            result = (
                load_definitions()
                .resolve_job_def("nightly_refresh")
                .execute_in_process(
                    instance=instance,
                    tags={RECOMPUTE_TAG: "true"},
                    asset_selection=[dg.AssetKey(["activation", "campaign_exports"])],
                    raise_on_error=False,
                )
            )
        dispose_engines()
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["no_control_member_exported"].passed
    # The consent audit counts a suppressed address as one without consent: it fails too.
    assert checks["exported_people_consented"].metadata["rows_without_consent"].value == 1
    blocked = checks["no_erased_people_in_exports"]
    assert not blocked.passed
    # The scan reads every file of the folder: the staged ones and those the first run
    # published hold the address (scrubbing published files is the erasure step's work).
    assert blocked.metadata["rows_of_erased_people"].value >= 2
    assert yaml.safe_load((folder / "latest.json").read_text())["export_id"] == first
    assert erased in set(_latest_full(tmp_path, "spring__coupon")["email"])  # as published
    assert not list((tmp_path / "exports").rglob(".staged-*"))
    pd.testing.assert_frame_equal(project.table("activation", "campaign_exports"), log_before)
    pd.testing.assert_frame_equal(
        project.table("activation", "campaign_recipients"), recipients_before
    )


def _run_as_of(project: DemoProject, instance: dg.DagsterInstance, day: str) -> None:
    saved = project.env
    project.env = lambda: {**saved(), "CDP_AS_OF": day}  # type: ignore[method-assign]
    try:
        assert run_job(project, instance).success
    finally:
        project.env = saved  # type: ignore[method-assign]


def test_responses_are_measured_and_unsubscribes_withdraw_consent(tmp_path: Path) -> None:
    project = _project(tmp_path)
    config = yaml.safe_load(project.config_path.read_text())
    config["sources"].append(
        {
            "name": "esp",
            "kind": "campaign_events",
            "format": "csv",
            "path": "esp/*.csv",
            "columns": {
                "event_id": "id",
                "campaign_id": "campaign",
                "event_type": "type",
                "email": "email",
                "occurred_at": "at",
            },
        }
    )
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with dg.instance_for_test() as instance:
        _run_as_of(project, instance, "2026-11-05")  # assigned; windows open 2026-11-06
        assignments = project.table("activation", "campaign_assignments")
        coupon = _latest_full(tmp_path, "spring__coupon")
        by_arm = assignments.set_index("customer_id")["arm"]
        email_of = {f"A{i:04d}": f"shopper.{i:04d}@gmail.com" for i in range(PEOPLE)}
        xref = project.table("core", "customer_xref")
        account_of = dict(zip(xref["customer_id"], xref["source_record_id"], strict=False))

        # Known responses: every 2nd coupon customer, every 4th picks customer and every 8th
        # control customer buys once in the window; coupon buyers use the code.
        buyers = {"coupon": 2, "picks": 4, "control": 8}
        orders, expected = ["order,customer,when,total,coupon"], {}
        for arm, every in buyers.items():
            members = sorted(by_arm.index[by_arm == arm])
            chosen = members[::every]
            expected[arm] = (len(chosen), len(members))
            for n, customer in enumerate(chosen):
                code = "SPRING10" if arm == "coupon" else ""
                orders.append(
                    f"R{arm}{n:04d},{account_of[customer]},2026-11-10 12:00:00,40.00,{code}"
                )
        (tmp_path / "landing" / "orders" / "2.csv").write_text("\n".join(orders) + "\n")
        quitter = str(coupon["customer_id"].iloc[0])
        events = ["id,campaign,type,email,at"]
        for n, customer in enumerate(coupon["customer_id"]):
            events.append(f"s{n},spring,send,{email_of[account_of[customer]]},2026-11-06T09:00:00Z")
        events.append(f"u1,spring,unsubscribe,{email_of[account_of[quitter]]},2026-11-07T09:00:00Z")
        events.append("x1,summer,open,shopper.0001@gmail.com,2026-11-07T09:00:00Z")
        (tmp_path / "landing" / "esp").mkdir()
        (tmp_path / "landing" / "esp" / "1.csv").write_text("\n".join(events) + "\n")

        _run_as_of(project, instance, "2026-11-30")

    results = project.table("analytics", "campaign_results").set_index("arm")
    for arm, (converters, assigned) in expected.items():
        assert results.loc[arm, "assigned"] == assigned
        assert results.loc[arm, "converters"] == converters
        assert abs(results.loc[arm, "conversion_rate"] - converters / assigned) < 1e-12
    control_rate = expected["control"][0] / expected["control"][1]
    coupon_rate = expected["coupon"][0] / expected["coupon"][1]
    assert abs(results.loc["coupon", "conversion_uplift"] - (coupon_rate - control_rate)) < 1e-12
    assert results.loc["coupon", "conversion_uplift_low"] > 0  # 50 % against 12.5 %
    assert results.loc["coupon", "coupon_redemptions"] == expected["coupon"][0]
    assert results.loc["coupon", "sent"] == len(coupon)
    assert results.loc["coupon", "unsubscribed"] == 1
    assert pd.isna(results.loc["control", "conversion_uplift"])

    profiles = project.table("core", "customer_profiles").set_index("customer_id")
    assert not profiles.loc[quitter, "email_consent"]
    assert quitter not in set(_latest_full(tmp_path, "spring__coupon")["customer_id"])
    quarantine = project.table("ops", "quarantine")
    assert quarantine.loc[quarantine["source"] == "esp", "rule"].tolist() == ["unknown_campaign"]


def test_an_uplift_model_learns_whom_the_offer_moves(tmp_path: Path) -> None:
    """3,000 buyers, a 50/50 coupon test; the coupon moves frequent buyers only (60 % of
    them buy in the window against 10 % without it), others buy at 10 % either way. The
    uplift model trained on it ranks frequent buyers first."""
    people = 3000
    accounts = ["id,email,first,newsletter,confirmed"]
    history = ["order,customer,when,total,coupon"]
    for i in range(people):
        accounts.append(f"A{i:05d},buyer.{i:05d}@gmail.com,Kim,true,2025-01-01T10:00:00Z")
        for k in range(1 + 4 * (i % 2)):  # odd customers: 5 past orders; even ones: 1
            history.append(f"H{i:05d}{k},A{i:05d},2026-0{1 + k}-1{i % 9} 10:00:00,30.00,")
    landing = tmp_path / "landing"
    for name, lines in (("accounts", accounts), ("orders", history)):
        (landing / name).mkdir(parents=True)
        (landing / name / "1.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    project = _project(tmp_path / "unused")
    config = yaml.safe_load(project.config_path.read_text())
    config["landing_dir"] = str(landing)
    config["activation"] = {"global_control_share": 0.0}
    config["campaigns"][0]["arms"] = [
        {"name": "coupon", "share": 50, "offer": "coupon", "coupon_code": "SPRING10"},
        {"name": "control", "share": 50, "control": True},
    ]
    config["campaigns"][0]["start"] = "2026-10-01"
    (tmp_path / "cdp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    project = DemoProject(
        tmp_path, tmp_path / "cdp.yaml", tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}"
    )
    rng = np.random.default_rng(5)
    with dg.instance_for_test() as instance:
        _run_as_of(project, instance, "2026-10-01")
        assignments = project.table("activation", "campaign_assignments")
        xref = project.table("core", "customer_xref")
        account_of = dict(zip(xref["customer_id"], xref["source_record_id"], strict=False))
        orders = ["order,customer,when,total,coupon"]
        for n, row in enumerate(assignments.itertuples()):
            account = account_of[row.customer_id]
            frequent = int(account[1:]) % 2 == 1
            chance = 0.6 if (frequent and row.arm == "coupon") else 0.1
            if rng.random() < chance:
                code = "SPRING10" if row.arm == "coupon" else ""
                orders.append(f"R{n:05d},{account},2026-10-05 12:00:00,40.00,{code}")
        (landing / "orders" / "2.csv").write_text("\n".join(orders) + "\n", encoding="utf-8")
        _run_as_of(project, instance, "2026-10-31")
        saved = project.env
        project.env = lambda: {**saved(), "CDP_AS_OF": "2026-10-31"}  # type: ignore[method-assign]
        trained = run_job(project, instance, job="train_models")
        scored = run_job(project, instance, job="score_models")
        project.env = saved  # type: ignore[method-assign]
    assert trained.success and scored.success
    checks = {e.check_name: e.passed for e in trained.get_asset_check_evaluations()}
    assert checks["beats_random_targeting"] and checks["beats_purchase_probability"]
    scores = project.table("ml", "uplift_scores")
    scores["frequent"] = scores["customer_id"].map(account_of).str[1:].astype(int) % 2 == 1
    top = scores[scores["uplift_decile"] <= 3]
    assert top["frequent"].mean() > 0.7  # half of all customers are frequent buyers
    assert scores.loc[scores["frequent"], "best_arm"].eq("coupon").mean() > 0.9
