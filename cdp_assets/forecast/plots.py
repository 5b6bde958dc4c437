"""Pictures of the sales forecast for the asset metadata: history, forecast and 80 % / 95 %
bands per level, and the backtest's MASE per model and level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.forecast.periods import TOTAL

HISTORY_WEEKS = 104  # two years of history before the forecast
MAX_PANELS = 6  # members drawn per level (the largest)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_bands(ax, forecast: pd.DataFrame, color: str) -> None:  # noqa: ANN001 - an Axes
    """The forecast line over its 95 % and 80 % bands (SALES_FORECAST_COLUMNS rows)."""
    x = forecast["period_start"]
    ax.fill_between(
        x, forecast["lower_95"], forecast["upper_95"], color=color, alpha=0.15, lw=0, label="95 %"
    )
    ax.fill_between(
        x, forecast["lower_80"], forecast["upper_80"], color=color, alpha=0.3, lw=0, label="80 %"
    )
    ax.plot(x, forecast["forecast"], color=color, lw=1.5, label="forecast")


def _panel(ax, history: pd.Series, forecast: pd.DataFrame, title: str) -> None:
    recent = history.iloc[-HISTORY_WEEKS:]
    ax.plot(recent.index, recent.to_numpy(), color="#333333", lw=1, label="actual")
    forecast_bands(ax, forecast, "#4477aa")
    model = forecast["model"].iloc[0] if len(forecast) else ""
    ax.set_title(f"{title} ({model})", fontsize=9)
    ax.tick_params(labelsize=7)


def level_forecast_plot(history: pd.DataFrame, rows: pd.DataFrame, level: str, metric: str) -> str:
    """Weekly history and forecast of a level's largest members (all metrics for the total)."""
    from cdp_assets.analytics.rfm import figure_markdown

    plt = _pyplot()
    weekly = rows.loc[(rows["frequency"] == "week") & (rows["level"] == level)]
    if level == TOTAL:
        keys = [k for k in history.columns if k.level == TOTAL]
    else:
        keys = [k for k in history.columns if k.level == level and k.metric == metric]
        keys = sorted(keys, key=lambda k: -float(history[k].iloc[-52:].sum()))[:MAX_PANELS]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        forecast = weekly.loc[(weekly["member"] == key.member) & (weekly["metric"] == key.metric)]
        _panel(ax, history[key], forecast, key.label())
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return figure_markdown(fig, f"{level} forecast")


def backtest_plot(summary: pd.DataFrame) -> str:
    """MASE per level and model (lower is better; seasonal naive's in-sample MAE is 1)."""
    from cdp_assets.analytics.rfm import figure_markdown

    plt = _pyplot()
    levels = list(dict.fromkeys(summary["level"]))
    models = list(dict.fromkeys(summary["model"]))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        mase = summary.loc[summary["model"] == model].set_index("level")["mase"]
        x = np.arange(len(levels)) + i * width
        ax.bar(x, [mase.get(level, np.nan) for level in levels], width, label=model)
    ax.set_xticks(np.arange(len(levels)) + 0.4 - width / 2, levels)
    ax.set_ylabel("backtest MASE")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return figure_markdown(fig, "backtest MASE by level and model")
