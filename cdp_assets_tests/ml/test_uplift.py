"""Uplift learners, metrics, training and next best offer on populations with a known truth.

The simulated offers help some customers and hurt others, and the customers most likely to
buy anyway (frequent buyers) are the ones an offer hurts: ranking by purchase probability
targets the wrong people, ranking by uplift the right ones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cdp_assets.ml.model_store import ModelStore
from cdp_assets.ml.uplift import (
    PURCHASE_PROBABILITY,
    RANDOM,
    UPLIFT_SCORE_DTYPES,
    MultiArmUplift,
    NotEnoughData,
    TwoModelUplift,
    UpliftSettings,
    UpliftTraining,
    XLearner,
    arm_comparisons,
    auuc,
    compare_with_champion,
    design_weights,
    holdout_metrics,
    next_best_offer,
    not_enough_data,
    offer_shortfalls,
    qini_coefficient,
    qini_curve,
    score_uplift,
    split_customers,
    train_uplift,
    uplift_at,
    uplift_decile,
)

FEATURES = ("recency_days", "frequency", "sessions_30d", "monetary", "tickets_90d")
CONTROL_ARMS = {"spring": "control", "summer": "holdout"}
OFFERS = ("discount", "free_shipping")


# -- the simulated truth ---------------------------------------------------------------------


def customers(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    """Features of these customers; monetary and tickets are noise."""
    n = len(ids)
    frequency = rng.poisson(2.5, n)
    return pd.DataFrame(
        {
            "customer_id": pd.array([f"C{i:06d}" for i in ids], dtype="string"),
            "recency_days": pd.array(rng.integers(0, 366, n), dtype="Int64"),
            "frequency": frequency.astype(np.int64),
            "sessions_30d": rng.poisson(2.0, n).astype(np.int64),
            "monetary": frequency * rng.gamma(2.0, 40.0, n),
            "tickets_90d": rng.poisson(0.3, n).astype(np.int64),
        }
    )


def base_probability(frame: pd.DataFrame) -> np.ndarray:
    """Purchase probability without an offer: frequent buyers buy anyway."""
    return np.clip(0.03 + 0.07 * frame["frequency"].to_numpy(np.float64), 0.0, 0.6)


def true_effects(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The discount wins back recent buyers, free shipping the browsers who have not bought
    lately; both annoy frequent buyers (-20 points)."""
    recency = frame["recency_days"].to_numpy(np.float64)
    frequency = frame["frequency"].to_numpy()
    sessions = frame["sessions_30d"].to_numpy()
    loyal = frequency >= 5
    browsing = (sessions >= 3) & (recency >= 90)
    return {
        "discount": np.where(loyal, -0.20, np.where(recency < 90, 0.25, 0.0)),
        "free_shipping": np.where(loyal, -0.20, np.where(browsing, 0.25, 0.02)),
        "gift": np.full(len(frame), 0.05),
    }


def campaign(
    rng: np.random.Generator,
    name: str,
    ids: np.ndarray,
    arms: dict[str, float],
    shift: float = 0.0,
) -> pd.DataFrame:
    """A randomised campaign: arms drawn with the given shares, outcomes from the truth."""
    frame = customers(rng, ids)
    names = np.array(list(arms), dtype=object)
    arm = rng.choice(names, len(frame), p=list(arms.values()))
    effects = true_effects(frame)
    effect = np.select([arm == a for a in effects], list(effects.values()), 0.0)
    converted = rng.random(len(frame)) < base_probability(frame) + shift + effect
    frame.insert(0, "campaign", name)
    frame.insert(2, "arm", pd.array(arm, dtype="string"))
    frame["converted"] = converted
    frame["revenue"] = np.where(converted, rng.gamma(2.0, 30.0, len(frame)), 0.0)
    return frame


def simulated_examples(seed: int = 1, spring: int = 24_000, summer: int = 8_000) -> pd.DataFrame:
    """Spring: control, discount, free shipping in thirds and a small gift arm. Summer: a
    20 % holdout and the discount, at a higher base rate. 6,000 customers were in both."""
    rng = np.random.default_rng(seed)
    spring_arms = {"control": 0.325, "discount": 0.325, "free_shipping": 0.325, "gift": 0.025}
    parts = [
        campaign(rng, "spring", np.arange(spring), spring_arms),
        campaign(
            rng,
            "summer",
            np.arange(spring - 6_000, spring - 6_000 + summer),
            {"holdout": 0.2, "discount": 0.8},
            shift=0.05,
        ),
    ]
    return pd.concat(parts, ignore_index=True)


def expected_qini(score: np.ndarray, frame: pd.DataFrame, arm: str) -> float:
    """The Qini coefficient of a ranking on both potential outcomes of every customer (each
    customer once treated, once not, with their true probabilities as outcomes): no sampling
    noise, and ranking by the true effect is the best possible."""
    p0 = base_probability(frame)
    n = len(frame)
    return qini_coefficient(
        np.concatenate([score, score]),
        np.concatenate([np.ones(n, bool), np.zeros(n, bool)]),
        np.concatenate([p0 + true_effects(frame)[arm], p0]),
    )


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The boosted trees use every core by default; the test machine is shared."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    return simulated_examples()


@pytest.fixture(scope="module")
def training(examples: pd.DataFrame) -> UpliftTraining:
    with threadpool_limits(limits=1):
        return train_uplift(examples, CONTROL_ARMS, FEATURES)


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    """New customers, never trained on."""
    return customers(np.random.default_rng(7), np.arange(900_000, 930_000))


# -- metrics by hand -------------------------------------------------------------------------

# Six customers, best score first: treated converter, control non-converter, treated
# converter, control converter, treated non-converter, control non-converter.
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
TREATED = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
CONVERTED = np.array([1, 0, 1, 1, 0, 0])


def test_qini_curve_by_hand() -> None:
    curve = qini_curve(SCORE, TREATED, CONVERTED)
    assert list(curve["targeted"]) == [0, 1, 2, 3, 4, 5, 6]
    # treated converters minus control converters (3 treated, 3 control: scale 1)
    assert list(curve["incremental"]) == [0, 1, 1, 2, 1, 1, 1]
    np.testing.assert_allclose(curve["random"], np.arange(7) / 6)
    # area over the diagonal, y per customer: (1/6) * (5 + 4 + 9 + 2 + 1) / 36 = 21/216;
    # the optimum (2 treated converters, 3 non-converters tied, the control converter)
    # has 6.5/36, so the Qini coefficient is (21/216) / (6.5/36) = 7/13.
    assert qini_coefficient(SCORE, TREATED, CONVERTED, normalize=False) == pytest.approx(21 / 216)
    assert qini_coefficient(SCORE, TREATED, CONVERTED) == pytest.approx(7 / 13)
    perfect = np.where(TREATED, CONVERTED, -CONVERTED)
    assert qini_coefficient(perfect, TREATED, CONVERTED) == pytest.approx(1.0)
    assert qini_coefficient(np.zeros(6), TREATED, CONVERTED) == 0.0  # random targeting
    assert qini_coefficient(-SCORE, TREATED, CONVERTED) < 0


def test_qini_curve_scales_control_and_shares_ties() -> None:
    # 2 treated, 4 control: each control converter counts 2/4; the middle three are tied.
    score = np.array([2.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    treated = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    converted = np.array([1, 0, 1, 0, 0, 1])
    curve = qini_curve(score, treated, converted)
    assert list(curve["targeted"]) == [0, 1, 4, 6]
    assert list(curve["incremental"]) == [0.0, 1.0, 0.5, 0.0]
    # the rows of a tie group in any order give the same answer
    order = np.array([0, 3, 2, 1, 5, 4])
    again = qini_curve(score[order], treated[order], converted[order])
    pd.testing.assert_frame_equal(curve, again)


def test_auuc_and_uplift_in_the_top_by_hand() -> None:
    # uplift curve (treated rate - control rate among the targeted) * share targeted:
    # 0 (no control yet), 1/3, 1/2, 1/3, 5/36, 1/3 -> area (1/6) * 53/36
    assert auuc(SCORE, TREATED, CONVERTED) == pytest.approx(53 / 216)
    assert auuc(np.zeros(6), TREATED, CONVERTED) == pytest.approx((2 / 3 - 1 / 3) / 2)
    assert uplift_at(SCORE, TREATED, CONVERTED, 0.5) == pytest.approx(1.0)  # 2/2 - 0/1
    assert uplift_at(SCORE, TREATED, CONVERTED, 1.0) == pytest.approx(1 / 3)
    assert np.isnan(uplift_at(SCORE, TREATED, CONVERTED, 1 / 6))  # no control customer


def test_design_weights_by_hand() -> None:
    # campaign a treats 3 of 4, campaign b 1 of 2
    weights = design_weights(["a", "a", "a", "a", "b", "b"], [1, 1, 1, 0, 1, 0])
    np.testing.assert_allclose(weights, [8 / 9, 8 / 9, 8 / 9, 4 / 3, 4 / 3, 2 / 3])
    # both groups now hold the campaigns 2:1, like the campaigns themselves
    assert list(design_weights(["a", "b", "a", "b"], [1, 1, 0, 0])) == [1.0] * 4


def test_design_weights_remove_the_campaign_mix_from_the_effect() -> None:
    """No offer works, but campaign a treats 90 % at a 50 % base rate and campaign b 50 % at
    10 %: pooled, the treated convert far more often (0.36 against 0.17)."""
    rng = np.random.default_rng(3)
    n = 3_000
    frame = customers(rng, np.arange(2 * n))
    frame["campaign"] = np.repeat(["a", "b"], n)
    treated = rng.random(2 * n) < np.repeat([0.9, 0.5], n)
    converted = rng.random(2 * n) < np.repeat([0.5, 0.1], n)
    noise = ("monetary", "tickets_90d")
    naive = TwoModelUplift(noise).fit(frame, treated, converted).predict_uplift(frame)
    weights = design_weights(frame["campaign"], treated)
    fair = TwoModelUplift(noise).fit(frame, treated, converted, weights).predict_uplift(frame)
    assert naive.mean() > 0.12
    assert abs(fair.mean()) < 0.03
    curve = qini_curve(np.zeros(2 * n), treated, converted, weights)
    assert abs(curve["incremental"].iloc[-1] / curve["treated"].iloc[-1]) < 0.03


# -- split and comparisons -------------------------------------------------------------------


def test_customers_are_split_stratified_seeded_and_stable(examples: pd.DataFrame) -> None:
    held = split_customers(examples, CONTROL_ARMS, 0.3, random_state=0)
    ids = examples["customer_id"].astype(str)
    # a customer of both campaigns is on one side only
    assert not (set(ids[held]) & set(ids[~held]))
    per_customer = (
        examples.assign(
            held=held,
            treated=examples["arm"].isin(["discount", "free_shipping", "gift"]),
        )
        .groupby("customer_id")[["held", "treated", "converted"]]
        .max()
    )
    share = per_customer.groupby(["treated", "converted"])["held"].mean()
    assert share.between(0.299, 0.301).all()
    # the row order does not matter; the seed does
    shuffled = examples.sample(frac=1.0, random_state=5)
    again = split_customers(shuffled, CONTROL_ARMS, 0.3, random_state=0)
    assert set(shuffled["customer_id"][again]) == set(ids[held])
    other = split_customers(examples, CONTROL_ARMS, 0.3, random_state=1)
    assert set(ids[other]) != set(ids[held])
    # new customers move few of the old ones across
    more = pd.concat([examples, simulated_examples(seed=9, spring=3_000, summer=0)])
    more["customer_id"] = more["customer_id"].where(
        np.arange(len(more)) < len(examples), "N" + more["customer_id"]
    )
    later = split_customers(more, CONTROL_ARMS, 0.3, random_state=0)[: len(examples)]
    assert (later != held).mean() < 0.03


def test_offers_are_compared_with_the_control_of_their_own_campaigns(
    examples: pd.DataFrame,
) -> None:
    comparisons = arm_comparisons(examples, CONTROL_ARMS)
    assert set(comparisons) == {"discount", "free_shipping", "gift"}
    assert comparisons["discount"].campaigns == ("spring", "summer")
    shipping = comparisons["free_shipping"]
    assert shipping.campaigns == ("spring",)
    arms = examples["arm"].to_numpy()[shipping.rows]
    assert set(arms) == {"free_shipping", "control"}
    assert (shipping.treatment == (arms == "free_shipping")).all()
    assert (shipping.weight == 1.0).all()  # one campaign: nothing to balance


# -- learners --------------------------------------------------------------------------------


def test_both_learners_recover_the_true_effects(
    training: UpliftTraining, fresh: pd.DataFrame
) -> None:
    truth = true_effects(fresh)
    for name in ("two_model", "x_learner"):
        model = training.models[name]
        assert model.arms == OFFERS
        predicted = model.predict_uplift(fresh)
        for j, arm in enumerate(OFFERS):
            assert np.corrcoef(predicted[:, j], truth[arm])[0, 1] > 0.7, (name, arm)
    assert isinstance(training.models["two_model"].learners["discount"], TwoModelUplift)
    assert isinstance(training.models["x_learner"].learners["discount"], XLearner)


def test_oracle_beats_the_models_which_beat_random(
    training: UpliftTraining, fresh: pd.DataFrame
) -> None:
    rng = np.random.default_rng(11)
    purchase = training.purchase_model.predict(fresh)
    for arm in OFFERS:
        oracle = expected_qini(true_effects(fresh)[arm], fresh, arm)
        random = expected_qini(rng.random(len(fresh)), fresh, arm)
        by_purchase = expected_qini(purchase, fresh, arm)
        for name, model in training.models.items():
            learned = expected_qini(model.learners[arm].predict_uplift(fresh), fresh, arm)
            assert oracle > learned > 0.5 * oracle, (name, arm)
            assert learned > by_purchase + 0.1, (name, arm)
        assert abs(random) < 0.02
        # the purchase probability without an offer ranks the hurt frequent buyers first
        assert expected_qini(base_probability(fresh), fresh, arm) < -0.05


def test_revenue_uplift() -> None:
    frame = campaign(
        np.random.default_rng(4), "spring", np.arange(8_000), {"control": 0.5, "discount": 0.5}
    )
    treated = (frame["arm"] == "discount").to_numpy()
    learner = TwoModelUplift(FEATURES, outcome="revenue").fit(frame, treated, frame["revenue"])
    predicted = learner.predict_uplift(frame)
    # the effect on revenue is the effect on conversion times a 60 average order
    assert np.corrcoef(predicted, true_effects(frame)["discount"])[0, 1] > 0.5
    assert predicted.max() > 5


# -- training --------------------------------------------------------------------------------


def test_training_picks_a_learner_that_beats_random_and_purchase_ranking(
    training: UpliftTraining,
) -> None:
    metrics = training.metrics.set_index("model")
    assert list(metrics.index) == [RANDOM, PURCHASE_PROBABILITY, "two_model", "x_learner"]
    assert list(metrics["baseline"]) == [True, True, False, False]
    assert training.champion in {"two_model", "x_learner"}
    assert (
        metrics.loc[training.champion, "qini"]
        == metrics.loc[["two_model", "x_learner"], "qini"].max()
    )
    assert metrics.loc[RANDOM, "qini"] == 0.0
    assert metrics.loc[training.champion, "qini"] > 0.05
    assert metrics.loc[training.champion, "qini"] > metrics.loc[PURCHASE_PROBABILITY, "qini"] + 0.05
    assert training.beats_random and training.beats_purchase_probability
    # the top decile by uplift gains far more than the average customer
    assert metrics.loc[training.champion, "uplift_top_10"] > 0.15
    assert (
        metrics.loc[training.champion, "uplift_top_10"] > 2 * metrics.loc[RANDOM, "uplift_top_10"]
    )
    per_arm = training.arm_metrics.set_index(["model", "arm"])
    assert set(per_arm.loc[training.champion].index) == set(OFFERS)
    assert (per_arm.loc[training.champion, "qini"] > 0).all()


def test_an_offer_without_enough_data_is_left_out_with_a_reason(training: UpliftTraining) -> None:
    assert training.arms == OFFERS
    assert set(training.skipped_arms) == {"gift"}
    assert "gift" not in training.candidate.learners
    # 600 customers got the gift: about 420 train, 180 are held out
    assert re.fullmatch(
        r"only 1\d\d treated customers held out \(need 200\)", training.skipped_arms["gift"]
    )


def test_metadata_and_plots(training: UpliftTraining) -> None:
    metadata = training.metadata(as_of=dt.date(2025, 9, 1))
    assert metadata["target"] == "uplift" and metadata["outcome"] == "converted"
    assert metadata["estimator"] == training.champion
    assert metadata["arms"] == list(OFFERS)
    assert metadata["offer_campaigns"] == {
        "discount": ["spring", "summer"],
        "free_shipping": ["spring"],
    }
    assert metadata["features"] == list(FEATURES)
    assert metadata["metrics"] == training.model_metrics()
    assert set(metadata["metrics"]) == {
        "qini",
        "qini_low",
        "auuc",
        "uplift_top_10",
        "uplift_top_30",
    }
    assert metadata["metrics"]["qini_low"] < metadata["metrics"]["qini"]
    assert metadata["beats_random"] and metadata["beats_purchase_probability"]
    assert set(metadata["other_models"]) == {
        RANDOM,
        PURCHASE_PROBABILITY,
        "two_model",
        "x_learner",
    } - {training.champion}
    assert metadata["skipped_arms"].keys() == {"gift"}
    assert len(metadata["data_fingerprint"]) == 64
    assert metadata["as_of"] == dt.date(2025, 9, 1)
    assert metadata["holdout_customers"] + metadata["training_customers"] == 26_000
    plots = training.plots()
    assert set(plots) == {"qini_curve", "uplift_by_decile"}
    assert all(p.startswith("![") and "data:image/png;base64," in p for p in plots.values())
    deciles = training.deciles[training.deciles["arm"] == "discount"]
    assert deciles["observed_uplift"].iloc[:2].mean() > deciles["observed_uplift"].iloc[-2:].mean()


def test_stored_champion_is_judged_on_the_same_customers(
    training: UpliftTraining, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    promote, reason, champion = compare_with_champion(store, "uplift", training)
    assert promote and champion is None and "no champion" in reason
    store.promote("uplift", store.save("uplift", training.candidate, training.metadata()))
    loaded = store.load("uplift").model
    again = holdout_metrics(loaded, training)
    assert again["qini"] == pytest.approx(training.model_metrics()["qini"])
    promote, reason, champion = compare_with_champion(store, "uplift", training)
    assert not promote and "does not beat" in reason
    # a candidate must beat random targeting, or any floor set above it
    promote, reason, _ = compare_with_champion(
        ModelStore(tmp_path / "new"), "uplift", training, 1.0
    )
    assert not promote and "not above 1.0000" in reason
    # an offer the champion has no learner for counts as random targeting for it
    partial = MultiArmUplift(training.champion, learners={"discount": loaded.learners["discount"]})
    rows = training.arm_metrics.set_index(["model", "arm"]).loc[training.champion, "rows"]
    expected = (
        training.arm_metrics.set_index(["model", "arm"]).loc[
            (training.champion, "discount"), "qini"
        ]
        * rows["discount"]
        / rows.sum()
    )
    assert holdout_metrics(partial, training)["qini"] == pytest.approx(expected)


# -- next best offer and scores --------------------------------------------------------------


def clear_cut_customers() -> pd.DataFrame:
    typical = {"sessions_30d": 0, "monetary": 80.0, "tickets_90d": 0}
    rows = [
        {**typical, "customer_id": "RECENT", "recency_days": 30, "frequency": 1},
        {
            **typical,
            "customer_id": "BROWSER",
            "recency_days": 200,
            "frequency": 1,
            "sessions_30d": 6,
        },
        {**typical, "customer_id": "LOYAL", "recency_days": 30, "frequency": 7, "monetary": 560.0},
        {
            **typical,
            "customer_id": "LOYAL2",
            "recency_days": 250,
            "frequency": 8,
            "sessions_30d": 5,
            "monetary": 640.0,
        },
    ]
    return pd.DataFrame(rows).astype({"recency_days": "Int64", "customer_id": "string"})


def test_next_best_offer_picks_the_arm_with_the_higher_true_effect(
    training: UpliftTraining, fresh: pd.DataFrame
) -> None:
    offers = next_best_offer(training.candidate.learners, clear_cut_customers(), OFFERS)
    assert list(offers.columns) == [
        "customer_id",
        "best_arm",
        "expected_uplift",
        "uplift_discount",
        "uplift_free_shipping",
    ]
    best = dict(zip(offers["customer_id"], offers["best_arm"], strict=True))
    assert best["RECENT"] == "discount"
    assert best["BROWSER"] == "free_shipping"
    assert pd.isna(best["LOYAL"]) and pd.isna(best["LOYAL2"])  # every offer hurts: do not target
    loyal = offers.set_index("customer_id").loc[["LOYAL", "LOYAL2"]]
    assert (loyal["expected_uplift"] <= 0).all()
    # across many new customers
    truth = true_effects(fresh)
    chosen = training.candidate.next_best_offer(fresh)["best_arm"]
    recent = (truth["discount"] == 0.25) & (truth["free_shipping"] == 0.02)
    browsing = (truth["free_shipping"] == 0.25) & (truth["discount"] == 0.0)
    hurt = truth["discount"] < 0
    assert (chosen[recent] == "discount").mean() > 0.9
    assert (chosen[browsing] == "free_shipping").mean() > 0.9
    assert chosen[hurt].isna().mean() > 0.8
    # only the offers asked for
    only = next_best_offer(training.candidate.learners, clear_cut_customers(), ["free_shipping"])
    assert list(only.columns) == [
        "customer_id",
        "best_arm",
        "expected_uplift",
        "uplift_free_shipping",
    ]
    with pytest.raises(ValueError, match="no uplift model for offer"):
        next_best_offer(training.candidate.learners, clear_cut_customers(), ["gift"])


def test_scores_follow_the_contract(training: UpliftTraining, fresh: pd.DataFrame) -> None:
    population = pd.concat([fresh.head(2_000), clear_cut_customers()], ignore_index=True)
    population = population.sample(frac=1.0, random_state=2)
    scores = score_uplift(training.candidate, population, dt.date(2025, 10, 1), "uplift-test")
    assert list(scores.columns) == list(UPLIFT_SCORE_DTYPES)
    assert scores.dtypes.astype(str).to_dict() == UPLIFT_SCORE_DTYPES
    assert len(scores) == len(population)
    assert scores["customer_id"].is_monotonic_increasing
    assert (scores["as_of"] == pd.Timestamp("2025-10-01")).all()
    assert (scores["model_version"] == "uplift-test").all()
    assert (scores["outcome"] == "converted").all()
    assert set(scores["best_arm"].dropna()) <= set(OFFERS)
    assert (scores.loc[scores["best_arm"].isna(), "expected_uplift"] <= 0).all()
    assert (scores.loc[scores["best_arm"].notna(), "expected_uplift"] > 0).all()
    assert set(scores["uplift_decile"]) == set(range(1, 11))
    by_decile = scores.groupby("uplift_decile")["expected_uplift"]
    assert (by_decile.min().iloc[:-1].to_numpy() >= by_decile.max().iloc[1:].to_numpy()).all()
    clear = scores.set_index("customer_id").loc[["RECENT", "LOYAL"]]
    assert clear.loc["RECENT", "best_arm"] == "discount"
    assert clear.loc["RECENT", "uplift_decile"] <= 3 and clear.loc["LOYAL", "uplift_decile"] >= 8
    empty = score_uplift(training.candidate, population.head(0), dt.date(2025, 10, 1), "v")
    assert empty.empty and empty.dtypes.astype(str).to_dict() == UPLIFT_SCORE_DTYPES


def test_uplift_deciles_share_ties() -> None:
    assert list(uplift_decile([0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3, -0.4])) == list(
        range(1, 11)
    )
    assert list(uplift_decile([0.1, 0.1, 0.0, 0.0])) == [4, 4, 9, 9]


# -- not enough data, bad input --------------------------------------------------------------


def test_not_enough_customers_raises_with_the_reason() -> None:
    small = simulated_examples(seed=2, spring=1_500, summer=0)
    reason = not_enough_data(small, CONTROL_ARMS)
    assert reason is not None
    assert "offer 'discount': only" in reason and "treated customers held out (need 200)" in reason
    # The asset's status puts "not enough data: " in front (`outcomes.not_enough_data`): once.
    with pytest.raises(NotEnoughData, match=r"^uplift: offer 'discount': only \d+"):
        train_uplift(small, CONTROL_ARMS, FEATURES)


def test_not_enough_converters_is_said_clearly(examples: pd.DataFrame) -> None:
    few = examples.copy()
    control = few["arm"].isin(["control", "holdout"]).to_numpy()
    few.loc[control & (np.cumsum(control) > 25), "converted"] = False
    reason = not_enough_data(few, CONTROL_ARMS)
    assert reason is not None
    assert re.search(r"offer 'discount': only \d+ converters among the control customers", reason)
    assert "(need 20)" in reason
    assert not_enough_data(examples, CONTROL_ARMS) is None
    # lower floors (settings) let the same data through
    settings = UpliftSettings(min_group_converters=1, min_group_customers=10)
    assert not_enough_data(few, CONTROL_ARMS, settings) is None


def test_one_offer_short_leaves_the_others(examples: pd.DataFrame) -> None:
    fewer = examples[(examples["arm"] != "free_shipping") | (examples.index % 20 == 0)]
    settings = UpliftSettings()
    held = split_customers(fewer, CONTROL_ARMS)
    reasons = offer_shortfalls(fewer[~held], fewer[held], CONTROL_ARMS, settings)
    assert set(reasons) == {"free_shipping", "gift"}
    assert not_enough_data(fewer, CONTROL_ARMS) is None


def test_bad_examples_are_refused(examples: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"no control arm given for campaign\(s\) \['summer'\]"):
        train_uplift(examples, {"spring": "control"}, FEATURES)
    twice = pd.concat([examples.head(5), examples.head(1)])
    with pytest.raises(ValueError, match="twice in the same campaign"):
        train_uplift(twice, CONTROL_ARMS, FEATURES)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['latest_nps'\]"):
        train_uplift(examples, CONTROL_ARMS, (*FEATURES, "latest_nps"))
    with pytest.raises(ValueError, match="must be numeric"):
        train_uplift(examples.assign(country="DE"), CONTROL_ARMS, (*FEATURES, "country"))
    with pytest.raises(ValueError, match="outcome must be one of"):
        UpliftSettings(outcome="clicks")


def test_a_model_without_signal_is_not_promoted(tmp_path) -> None:
    """Found by bench/campaigns.py: at demo sizes the held-out Qini of a model that has not
    learned the effects can still be above 0 by chance. Without any effect, the bootstrap
    lower bound of the Qini stays below 0, so such a model is never promoted."""
    rng = np.random.default_rng(11)
    frame = customers(rng, np.arange(8_000))
    arm = rng.choice(np.array(["control", "discount"], dtype=object), len(frame))
    frame.insert(0, "campaign", "spring")
    frame.insert(2, "arm", pd.array(arm, dtype="string"))
    frame["converted"] = rng.random(len(frame)) < base_probability(frame)  # no effect at all
    frame["revenue"] = 0.0
    training = train_uplift(frame, {"spring": "control"}, FEATURES)
    assert training.model_metrics()["qini_low"] < 0
    assert not training.beats_random
    promote, reason, _ = compare_with_champion(ModelStore(tmp_path), "uplift", training)
    assert not promote and "with 95 % confidence" in reason


def test_a_real_effect_is_promoted_beyond_the_noise(training: UpliftTraining) -> None:
    metrics = training.model_metrics()
    assert 0 < metrics["qini_low"] < metrics["qini"]
    assert training.beats_random
