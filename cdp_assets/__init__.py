"""cdp_assets: an open-source customer data platform for e-commerce on Dagster."""
