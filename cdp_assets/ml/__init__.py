"""Predictive models: churn, lifetime value, recommendations, lead scores (no Dagster)."""
