"""The demo data generator: a realistic, messy, seeded customer data set with ground truth."""

from cdp_assets.demo.generate import DemoSummary, generate_demo

__all__ = ["DemoSummary", "generate_demo"]
