"""Refresh a venue's bundled instrument snapshot (contract sizes) from its public REST API.

Only OKX is supported: it is the venue whose sizes differ per instrument family and whose
liquidation sizes are in contracts. Other venues' snapshots state their rule in "_source".
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx

from pipeline.sources.exchanges.base import INSTRUMENTS_DIR, load_instruments, reload_instruments

OKX_BASE = "https://www.okx.com"


def refresh_okx(base_url: str = OKX_BASE, out: Path | None = None, client: httpx.Client | None = None) -> dict:
    """Fetch SWAP and FUTURES instruments and rewrite okx.json's per-family contract sizes."""
    client = client or httpx.Client(timeout=20.0)
    linear: dict[str, float] = {}
    inverse: dict[str, float] = {}
    for inst_type in ("SWAP", "FUTURES"):
        resp = client.get(f"{base_url.rstrip('/')}/api/v5/public/instruments", params={"instType": inst_type})
        resp.raise_for_status()
        body = resp.json()
        if str(body.get("code")) != "0":
            raise RuntimeError(f"OKX instruments {inst_type}: code {body.get('code')}: {body.get('msg')}")
        for row in body.get("data", []):
            family = row.get("instFamily") or row.get("uly")
            ct_val = float(row["ctVal"])
            if row.get("ctType") == "inverse":
                inverse[family] = ct_val  # USD face value per contract
            elif row.get("ctType") == "linear":
                linear[family] = ct_val  # base units per contract
    if not linear and not inverse:
        raise RuntimeError("OKX returned no SWAP or FUTURES instruments; snapshot left unchanged")
    current = load_instruments("okx")
    snapshot = {
        "_source": f"OKX v5 GET /api/v5/public/instruments (instType SWAP and FUTURES: ctVal per instFamily), "
                   f"refreshed {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `cascadewatch instruments "
                   f"refresh okx`.",
        "inverse": {**current["inverse"], "families": dict(sorted(inverse.items())) or current["inverse"]["families"]},
        "linear": dict(sorted(linear.items())) or current["linear"],
    }
    target = out or INSTRUMENTS_DIR / "okx.json"
    target.write_text(json.dumps(snapshot, indent=2) + "\n")
    reload_instruments()
    return snapshot
