"""Table contracts: the columns, dtypes, descriptions and PII tags of the tables that other
layers and downstream jobs read (canonical staging schemas, golden profiles, customer
features, lifetime values, customer 360).

The bottom layer: it imports nothing else of the platform, so every layer may import it.
"""
