"""Hold-out market scenarios for bench/holdout.py, written apart from the project's own simulator."""
