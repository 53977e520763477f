"""cascadewatch: watch whale deposit -> sell -> liquidation cascade sequences form in crypto markets."""

__version__ = "0.1.0"
