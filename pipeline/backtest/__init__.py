"""Backtests on recorded history: archive files of any supported format, normalized, put in event
time order with bounded memory, and replayed through the detection core (`pipeline.replay.run`)."""

from .run import BacktestResult, backtest

__all__ = ["BacktestResult", "backtest"]
