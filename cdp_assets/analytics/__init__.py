"""Customer analytics: features, RFM, cohorts, audiences, survey and service insight (no Dagster)."""
