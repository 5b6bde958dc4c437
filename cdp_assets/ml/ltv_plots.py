"""Pictures of lifetime values for the asset metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ltv_distribution_plot(scores: pd.DataFrame) -> str:
    """Histogram of predicted revenue (log scale), as a markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_assets.analytics.rfm import figure_markdown

    fig, ax = plt.subplots(figsize=(6, 3.2))
    values = scores["predicted_revenue"].to_numpy(dtype=float)
    ax.hist(np.log10(1 + values[np.isfinite(values)]), bins=40, color="#4477aa")
    ax.set_xlabel("log10(1 + predicted revenue)")
    ax.set_ylabel("customers")
    return figure_markdown(fig, "LTV distribution")
