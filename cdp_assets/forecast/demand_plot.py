"""The picture of `ml.product_demand` for the asset metadata: the top products' last year of
weekly units, their forecast and its 80 % interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.forecast.demand import WeeklySales

PLOTTED_PRODUCTS = 6
HISTORY_SHOWN_WEEKS = 52


def demand_plot(weekly: WeeklySales, rows: pd.DataFrame) -> str:
    """Small multiples of the first PLOTTED_PRODUCTS products of `rows` (ml.product_demand),
    as a markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_assets.analytics.rfm import figure_markdown

    products = list(dict.fromkeys(rows["product_id"]))[:PLOTTED_PRODUCTS]
    columns = 2
    lines = max(1, -(-len(products) // columns))
    fig, axes = plt.subplots(lines, columns, figsize=(9, 2.2 * lines), squeeze=False)
    for ax, product in zip(axes.ravel(), products, strict=False):
        history = weekly.product.loc[product].iloc[-HISTORY_SHOWN_WEEKS:]
        ahead = rows.loc[rows["product_id"] == product]
        ax.plot(history.index, history.to_numpy(), color="#4477aa", lw=1)
        ax.plot(ahead["period_start"], ahead["forecast"], color="#cc6677", lw=1.5)
        ax.fill_between(
            ahead["period_start"].to_numpy(),
            ahead["lower_80"].to_numpy(float),
            ahead["upper_80"].to_numpy(float),
            color="#cc6677",
            alpha=0.25,
            lw=0,
        )
        ax.set_title(f"{product} ({ahead['category'].iloc[0]})", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(products) :]:
        ax.set_visible(False)
    fig.suptitle("weekly units: history, forecast and 80 % interval", fontsize=9)
    fig.tight_layout()
    return figure_markdown(fig, "product demand")


def demand_plot_or_note(weekly: WeeklySales, rows: pd.DataFrame) -> str:
    if rows.empty or not np.isfinite(rows["forecast"].to_numpy(float)).any():
        return "no products to plot"
    return demand_plot(weekly, rows)
