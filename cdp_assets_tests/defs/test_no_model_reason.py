"""What a scoring asset says when there is no promoted model to score with."""

import dagster as dg

from cdp_assets.defs.ml.outcomes import last_training_status, no_model_reason, not_enough_data


def test_a_training_that_could_not_train_is_named_instead_of_run_the_job_again() -> None:
    status = "not enough data: uplift: offer 'generic': only 13 converters (need 20)"
    reason = no_model_reason("uplift", status)
    assert reason == (
        "no promoted uplift model: the last train_models run trained none "
        "(not enough data: uplift: offer 'generic': only 13 converters (need 20))"
    )
    assert "run the train_models job" not in reason
    assert no_model_reason("ltv", None) == "no promoted ltv model yet: run the train_models job"
    assert no_model_reason("ltv", "promoted ltv-1") == no_model_reason("ltv")


def test_last_training_status_reads_the_model_assets_latest_materialization() -> None:
    model_key = dg.AssetKey(["ml", "uplift_model"])

    @dg.asset(key=model_key)
    def uplift_model() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"status": "not enough data: too few customers"})

    seen: dict[str, str | None] = {}

    @dg.asset(deps=[uplift_model])
    def uplift_scores(context: dg.AssetExecutionContext) -> None:
        seen["status"] = last_training_status(context, model_key)
        seen["other"] = last_training_status(context, dg.AssetKey(["ml", "never_ran"]))

    with dg.instance_for_test() as instance:
        assert dg.materialize([uplift_model, uplift_scores], instance=instance).success
    assert seen == {"status": "not enough data: too few customers", "other": None}


def test_not_enough_data_is_said_once() -> None:
    reason = "not enough data: no purchases up to 2026-11-20"  # ltv.not_enough_data's form
    assert not_enough_data(reason, ()).metadata["status"] == reason
    wrapped = not_enough_data("churn: only 2 customers with a purchase", ("enough_data",))
    assert wrapped.metadata["status"] == "not enough data: churn: only 2 customers with a purchase"
    assert (
        wrapped.check_results[0].metadata["reason"].value
        == "churn: only 2 customers with a purchase"
    )
