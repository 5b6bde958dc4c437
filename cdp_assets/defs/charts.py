"""Charts in asset metadata: the UI shows a markdown value behind a "[Show Markdown]" link,
so the key says it is a chart and what of, and the chart opens with one sentence on what it
shows."""

from __future__ import annotations

import dagster as dg

CHART_PREFIX = "chart: "


def chart(title: str, what_it_shows: str, image_markdown: str) -> dict[str, dg.MetadataValue]:
    """One metadata entry `chart: <title>` whose markdown is the sentence, then the image."""
    return {
        f"{CHART_PREFIX}{title}": dg.MetadataValue.md(
            f"**{title}.** {what_it_shows}\n\n{image_markdown}"
        )
    }


# The model plots (`plots()` of a training result), by name: title and what each shows.
MODEL_CHARTS: dict[str, tuple[str, str]] = {
    "roc_curve": (
        "ROC curve",
        "True against false positive rate of each candidate on the held-out period; the "
        "higher the curve (AUC), the better the model ranks customers.",
    ),
    "calibration_curve": (
        "calibration curve",
        "Predicted probability against the observed rate, by bin, on the held-out period; on "
        "the diagonal the probabilities can be read as chances.",
    ),
    "lift_chart": (
        "lift chart",
        "How many times the average rate each tenth of customers by predicted score shows on "
        "the held-out period, highest scores first.",
    ),
    "feature_importance": (
        "feature importance",
        "The features the chosen model leans on most (permutation importance on the held-out "
        "period).",
    ),
    "qini_curve": (
        "Qini curve",
        "Incremental conversions gained by treating customers in the order of predicted uplift, "
        "against treating them at random (the diagonal).",
    ),
    "uplift_by_decile": (
        "uplift by predicted decile",
        "Observed uplift in each tenth of customers by predicted uplift on the held-out "
        "campaigns: a good model's first deciles show the most.",
    ),
}


def model_charts(plots: dict[str, str]) -> dict[str, dg.MetadataValue]:
    """A training result's plots as labelled chart entries."""
    entries: dict[str, dg.MetadataValue] = {}
    for name, image in plots.items():
        title, what = MODEL_CHARTS.get(name, (name.replace("_", " "), "Model diagnostic."))
        entries |= chart(title, what, image)
    return entries
