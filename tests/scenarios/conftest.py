"""Simulations shared by the scenario tests: built once per session (same seed, same output)."""

from __future__ import annotations

import pytest

from pipeline.scenarios.simulate import SimConfig, simulate


@pytest.fixture(scope="session")
def month():
    """A default month: 30 days, 30 episodes of each kind, 6 calm days."""
    cfg = SimConfig(days=30, per_kind=30, seed=7)
    events, labels = simulate(cfg)
    return cfg, events, labels


@pytest.fixture(scope="session")
def calm_month():
    """Twenty days of noise only: day 0 and nineteen calm days."""
    cfg = SimConfig(days=20, per_kind=0, calm_days=19, seed=11)
    events, labels = simulate(cfg)
    return cfg, events, labels
