"""Backtests on recorded history: archive files of any supported format, normalized, put in event
time order with bounded memory, and replayed through the detection core (`pipeline.replay.run`).

Imported lazily: the archive readers load pandas, which commands that never backtest (the worker)
should not pay for in memory."""

__all__ = ["BacktestResult", "backtest"]


def __getattr__(name: str):
    if name in __all__:
        from pipeline.backtest import run

        return getattr(run, name)
    raise AttributeError(f"module 'pipeline.backtest' has no attribute {name!r}")
