"""Independent market scenarios for bench/independent.py, written from the event schemas and market behaviour."""
