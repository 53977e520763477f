"""Generate pipeline/labels/data/exchange_labels.csv from the outside label lists.

    python -m pipeline.labels.build [--src /work/shared/data/labels] [--out pipeline/labels/data]

Inputs (see data/SOURCES.md for origin, commit and license):
  - defillama_cex_addresses.csv (exchange,chain,address,source_file): bitcoin + ethereum rows.
    Exchange-published proof-of-reserve lists -> kind unknown (mostly cold/reserve), confidence 0.9.
  - etherscan_brianleect/*.csv (,Address,Name Tag,Balance,Txn Count): ethereum. Only the exchange's own
    wallets are kept (plain "Binance 14", "X: Hot Wallet", "X: Cold Wallet", "X: Deposit", "X: MultiSig",
    "X: Old Address"); token contracts, deployers, deposit funders, pools and third parties are dropped.
    cold-wallet.csv -> kind cold, hot-wallet.csv -> kind hot. Confidence 0.8 (0.6 for the generic
    hot/cold lists).
The dawsbot exchange_all.csv list is not used (no kinds, many defunct venues; the Etherscan lists cover
the large exchanges).

Output columns: chain,address,entity,kind,source,confidence  (sorted, deterministic), plus data/VERSION.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
from pathlib import Path

from pipeline.labels.normalize import CHAINS, entity_slug, normalize_address, valid_address

LABELS_SCHEMA = "1"
COLUMNS = ("chain", "address", "entity", "kind", "source", "confidence")
DATA_DIR = Path(__file__).parent / "data"
DEFAULT_SRC = Path("/work/shared/data/labels")

_KEEP_SUFFIX = {"": None, "hot wallet": "hot", "cold wallet": "cold", "deposit": "deposit", "multisig": None,
                "old address": None}
_DROP_BASE = {"wintermute", "tether", "euro-tether", "tether-gold", "cronos-coin", "eurt", "bitsler-com", "portto",
              "binance-charity", "binance-jex", "binance-pool", "binance-usd", "huobi-mining-pool",
              "huobi-pool-token", "huobi-token", "kucoin-contract", "okx-dex"}


def _etherscan_rows(path: Path):
    default_kind = {"cold-wallet.csv": "cold", "hot-wallet.csv": "hot"}.get(path.name, "unknown")
    confidence = 0.6 if path.name in ("cold-wallet.csv", "hot-wallet.csv") else 0.8
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            tag = (row.get("Name Tag") or "").strip()
            addr = normalize_address("ethereum", row.get("Address") or "")
            if not tag or not valid_address("ethereum", addr):
                continue
            base, _, suffix = tag.partition(":")
            suffix = re.sub(r"\s+\d+$", "", suffix.strip().lower())
            if suffix not in _KEEP_SUFFIX:
                continue
            entity = entity_slug(base)
            if entity in _DROP_BASE:
                continue
            kind = _KEEP_SUFFIX[suffix] or default_kind
            yield ("ethereum", addr, entity, kind, f"etherscan:{path.stem}", confidence)


def _defillama_rows(path: Path):
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            chain = row["chain"].strip().lower()
            if chain not in CHAINS:
                continue
            addr = normalize_address(chain, row["address"])
            if not valid_address(chain, addr):
                continue
            yield (chain, addr, entity_slug(row["exchange"]), "unknown", "defillama", 0.9)


def build_rows(src: Path) -> list[tuple]:
    merged: dict[tuple[str, str], list] = {}
    sources = list(_defillama_rows(src / "defillama_cex_addresses.csv"))
    for p in sorted((src / "etherscan_brianleect").glob("*.csv")):
        if p.name == "bridge.csv":
            continue
        sources.extend(_etherscan_rows(p))
    for chain, addr, entity, kind, source, conf in sources:
        key = (chain, addr)
        cur = merged.get(key)
        if cur is None:
            merged[key] = [chain, addr, entity, kind, source, conf]
            continue
        if cur[2] == entity:
            # Same entity from a second list: keep the more specific kind, note both sources.
            if cur[3] == "unknown" and kind != "unknown":
                cur[3] = kind
            if source not in cur[4].split("+"):
                cur[4] = f"{cur[4]}+{source}"
            cur[5] = max(cur[5], conf)
        elif conf > cur[5]:
            merged[key] = [chain, addr, entity, kind, source, conf]
    return sorted(tuple(r) for r in merged.values())


def render(rows: list[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([*r[:5], f"{r[5]:g}"])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    text = render(build_rows(args.src))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "exchange_labels.csv").write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    (args.out / "VERSION").write_text(f"{LABELS_SCHEMA}+{digest}\n")
    print(f"wrote {text.count(chr(10)) - 1} labels, version {LABELS_SCHEMA}+{digest}")


if __name__ == "__main__":
    main()
