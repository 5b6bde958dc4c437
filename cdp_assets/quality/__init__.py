"""Normalisers and validation rules for staged customer data (pure pandas/pyarrow).

Modules by idea: `catalog` (rule names), `checked` (a checked column; distinct-value
machinery), `text` and `names` (trimming, NFC, placeholders), `parsing` (numbers, booleans,
dates, timestamps), `codes` (countries, currencies, enumerations), `emails`, `phones`,
`postal_codes`, `plausibility` (time windows, ages, ranges) and `consent` (double opt-in).
Every normaliser returns the typed column and, per row, the rule it failed.
"""
