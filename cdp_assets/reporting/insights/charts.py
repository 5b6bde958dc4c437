"""Charts as inline PNG data URIs (`data:image/png;base64,...`): the report loads nothing.

The platform's metadata plots (`figure_markdown`) are markdown images with the same data URI;
`markdown_image_source` takes the URI out of them, so the report reuses those plots as they are.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cdp_assets.forecast.plots import forecast_bands

DATA_URI = re.compile(r"\((data:image/png;base64,[A-Za-z0-9+/=]+)\)")
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")


def pyplot():  # noqa: ANN201 - matplotlib.pyplot, imported on first use with a file backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_source(fig: object, dpi: int = 90) -> str:
    """A matplotlib figure as a PNG data URI; closes the figure."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def markdown_image_source(markdown: str) -> str | None:
    """The PNG data URI of a markdown image from `figure_markdown`; None if it holds none."""
    match = DATA_URI.search(markdown)
    return match.group(1) if match else None


def bar_chart(labels: Sequence[str], values: Sequence[float], xlabel: str) -> str:
    """Horizontal bars, first label on top."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(labels), 3) + 1))
    position = np.arange(len(labels))[::-1]
    ax.barh(position, list(values), color=PALETTE[0])
    ax.set_yticks(position, list(labels))
    ax.set_xlabel(xlabel)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_source(fig)


def paired_bar_chart(
    labels: Sequence[str],
    now: Sequence[float],
    before: Sequence[float],
    names: tuple[str, str],
    xlabel: str,
) -> str:
    """Two horizontal bars per label (now, before), first label on top."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(labels), 3) + 1))
    position = np.arange(len(labels))[::-1]
    ax.barh(position + 0.2, list(now), height=0.4, color=PALETTE[0], label=names[0])
    ax.barh(position - 0.2, list(before), height=0.4, color=PALETTE[6], label=names[1])
    ax.set_yticks(position, list(labels))
    ax.set_xlabel(xlabel)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_source(fig)


def trend_chart(
    periods: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    percent_axis: bool = False,
) -> str:
    """One line per series over the labelled periods (oldest first)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    x = np.arange(len(periods))
    for colour, (name, values) in zip(PALETTE, series.items(), strict=False):
        ax.plot(x, np.asarray(values, dtype=float), marker="o", color=colour, label=name)
    step = max(1, len(periods) // 12)
    ax.set_xticks(x[::step], list(periods)[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if percent_axis:
        ax.set_ylim(0, 1.05)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    if len(series) > 1:
        ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_source(fig)


def forecast_chart(history: pd.DataFrame, forecast: pd.DataFrame, ylabel: str) -> str:
    """Actuals (period_start, value) then the forecast (period_start, forecast, lower_80,
    upper_80, lower_95, upper_95) with its 80 % and 95 % bands."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot(history["period_start"], history["value"], color=PALETTE[0], label="actual")
    forecast_bands(ax, forecast, PALETTE[1])
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, ncols=4)
    ax.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    return figure_source(fig)
