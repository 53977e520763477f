"""ETF history for a scenario from files beside it, imported the way `etf import` reads them.

A scenario `NAME.jsonl` may have `NAME_etf_ASSET.csv` (or `.html`, `.jsonl`) next to it: the
asset's ETF figures then come from that file (history rule for publication times) instead of
the scenario's own etf_flow events.
"""

from __future__ import annotations

from pathlib import Path

from .formats import load_events

SUFFIXES = (".csv", ".html", ".htm", ".jsonl")


def history_files(scenario: Path) -> dict[str, Path]:
    """{ASSET: file} for the ETF history files beside a scenario."""
    out = {}
    for p in sorted(scenario.parent.glob(f"{scenario.stem}_etf_*")):
        if p.suffix in SUFFIXES:
            out[p.stem.rsplit("_", 1)[1].upper()] = p
    return out


def with_imported_history(scenario: Path, events: list[dict]) -> tuple[list[dict], list[str]]:
    """The scenario's events with each asset's etf_flow events replaced by its imported file's."""
    notes = []
    for asset, path in history_files(scenario).items():
        imported, res = load_events(path.read_bytes(), None, asset, name=path.name)
        if res.skipped and not imported:
            raise ValueError(f"{path.name}: nothing imported ({res.skipped[0]})")
        events = [e for e in events if not (e.get("type") == "etf_flow" and e.get("asset") == asset)] + imported
        notes.append(f"{asset} ETF history imported from {path.name}: {len(imported)} figures, "
                     f"{len({e['date'] for e in imported})} trading days")
    return events, notes
