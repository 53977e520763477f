"""The exchange label store: (chain, address) -> Label, and transfer direction classification."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.labels.normalize import CHAINS, KINDS, entity_slug, normalize_address, valid_address

DATA_DIR = Path(__file__).parent / "data"
BUNDLED_CSV = DATA_DIR / "exchange_labels.csv"
COLUMNS = ("chain", "address", "entity", "kind", "source", "confidence")
REQUIRED = ("chain", "address", "entity")
DEFAULT_USER_DIR = Path("var/labels")


class LabelFileError(ValueError):
    """A label CSV that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Label:
    entity: str
    chain: str
    kind: str  # hot | cold | deposit | unknown
    source: str
    confidence: float
    address: str = ""


def labels_version() -> str:
    try:
        return (DATA_DIR / "VERSION").read_text().strip()
    except OSError:
        return "unknown"


def read_label_csv(path: str | os.PathLike, *, default_source: str | None = None,
                   default_confidence: float = 1.0) -> list[Label]:
    """Parse and validate a label CSV (columns chain,address,entity[,kind,source,confidence]).

    Raises LabelFileError on the first bad row, naming the line. Addresses are normalized
    (ETH lowercase, bech32 lowercase), entities become slugs.
    """
    path = Path(path)
    source_default = default_source or f"user:{path.name}"
    out: list[Label] = []
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise LabelFileError(f"{path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise LabelFileError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
        reader.fieldnames = header
        for lineno, row in enumerate(reader, start=2):
            chain = (row.get("chain") or "").strip().lower()
            if chain not in CHAINS:
                raise LabelFileError(f"{path}:{lineno}: chain {chain!r} not one of {', '.join(CHAINS)}")
            addr = normalize_address(chain, row.get("address") or "")
            if not valid_address(chain, addr):
                raise LabelFileError(f"{path}:{lineno}: not a {chain} address: {row.get('address')!r}")
            raw_entity = (row.get("entity") or "").strip()
            if not raw_entity:
                raise LabelFileError(f"{path}:{lineno}: empty entity")
            kind = (row.get("kind") or "unknown").strip().lower() or "unknown"
            if kind not in KINDS:
                raise LabelFileError(f"{path}:{lineno}: kind {kind!r} not one of {', '.join(KINDS)}")
            conf_raw = (row.get("confidence") or "").strip()
            try:
                conf = float(conf_raw) if conf_raw else default_confidence
            except ValueError:
                raise LabelFileError(f"{path}:{lineno}: confidence {conf_raw!r} is not a number") from None
            if not 0.0 <= conf <= 1.0:
                raise LabelFileError(f"{path}:{lineno}: confidence {conf} outside [0, 1]")
            source = (row.get("source") or "").strip() or source_default
            out.append(Label(entity_slug(raw_entity), chain, kind, source, conf, addr))
    return out


class LabelStore:
    """In-memory label index. Later additions override earlier ones for the same (chain, address)."""

    def __init__(self, version: str = "unknown") -> None:
        self._by_key: dict[tuple[str, str], Label] = {}
        self.version = version
        self.files: list[str] = []
        self.overridden = 0

    def add(self, labels: Iterable[Label], origin: str | None = None) -> int:
        n = 0
        for lab in labels:
            key = (lab.chain, lab.address)
            if key in self._by_key:
                self.overridden += 1
            self._by_key[key] = lab
            n += 1
        if origin:
            self.files.append(origin)
        return n

    def lookup(self, chain: str, address: str | None) -> Label | None:
        if not address:
            return None
        chain = chain.lower()
        return self._by_key.get((chain, normalize_address(chain, address)))

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, item: tuple[str, str]) -> bool:
        return self.lookup(*item) is not None

    def addresses(self, chain: str, entity: str | None = None) -> list[str]:
        return [a for (c, a), lab in self._by_key.items() if c == chain and (entity is None or lab.entity == entity)]

    def stats(self) -> dict:
        by_chain = Counter(c for c, _ in self._by_key)
        by_kind = Counter(f"{lab.chain}:{lab.kind}" for lab in self._by_key.values())
        by_entity = Counter(lab.entity for lab in self._by_key.values())
        by_source = Counter(lab.source for lab in self._by_key.values())
        return {
            "version": self.version,
            "total": len(self._by_key),
            "by_chain": dict(sorted(by_chain.items())),
            "by_kind": dict(sorted(by_kind.items())),
            "entities": len(by_entity),
            "top_entities": dict(by_entity.most_common(15)),
            "by_source": dict(sorted(by_source.items())),
            "files": list(self.files),
            "overridden": self.overridden,
        }


def user_label_files(user_dir: str | os.PathLike | None = None) -> list[Path]:
    d = Path(user_dir) if user_dir is not None else Path(os.environ.get("CASCADEWATCH_LABEL_DIR", DEFAULT_USER_DIR))
    return sorted(d.glob("*.csv")) if d.is_dir() else []


def load_labels(extra_files: Iterable[str | os.PathLike] = (), *, user_dir: str | os.PathLike | None = None,
                include_user_dir: bool = False) -> LabelStore:
    """The bundled labels, then (optionally) every CSV in the user label dir, then `extra_files`, each
    overriding the previous for the same address."""
    store = LabelStore(version=labels_version())
    store.add(read_label_csv(BUNDLED_CSV, default_source="bundled", default_confidence=0.8), origin=str(BUNDLED_CSV))
    files: list[Path] = list(user_label_files(user_dir)) if (include_user_dir or user_dir is not None) else []
    files += [Path(f) for f in extra_files]
    for f in files:
        store.add(read_label_csv(f), origin=str(f))
    return store


def classify(from_label: Label | None, to_label: Label | None) -> str:
    """Direction of a transfer from its two labels (None = unlabelled).

    Same entity on both sides (including cold <-> hot, deposit -> hot) -> exchange_internal;
    to an exchange -> exchange_inflow; from an exchange -> exchange_outflow; else other.
    Between two different exchanges it is an inflow to the receiver.
    """
    if from_label is not None and to_label is not None and from_label.entity == to_label.entity:
        return "exchange_internal"
    if to_label is not None:
        return "exchange_inflow"
    if from_label is not None:
        return "exchange_outflow"
    return "other"
