"""Human-readable summaries of tables: markdown, masked previews, plots."""
