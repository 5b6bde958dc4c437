"""Customer analytics: features, RFM, cohorts, audiences, survey and service insight, results
of randomised campaigns (no Dagster)."""
