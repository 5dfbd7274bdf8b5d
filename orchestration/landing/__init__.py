"""The landing: canonical rows of every source in the warehouse (tables.py declares them), made from the
raw rows by ordered row rules (rules.py, normalise.py) and landed per day partition (batch.py)."""
