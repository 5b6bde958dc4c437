"""Identity resolution and golden customer profiles (pure pandas, no Dagster)."""
