"""Normalization shared by the label generator, the label store and user files."""

from __future__ import annotations

import re

CHAINS = ("bitcoin", "ethereum")
KINDS = ("hot", "cold", "deposit", "unknown")

# Spellings seen in the source lists -> one lowercase slug per entity.
ENTITY_ALIASES = {
    "crypto.com": "crypto-com",
    "cryptocom": "crypto-com",
    "gate.io": "gate",
    "gate-io": "gate",
    "htx (huobi)": "htx",
    "htx-huobi": "htx",
    "huobi": "htx",
    "okex": "okx",
    "mt.gox": "mt-gox",
    "binance us": "binance-us",
    "kucoin": "kucoin",
    "hashkey-exchange": "hashkey",
}
_SUFFIXES = ("-cex", "-exchange")


def entity_slug(name: str) -> str:
    """'Binance 7' -> 'binance', 'HTX (Huobi)' -> 'htx', 'nexo-cex' -> 'nexo', 'Gate.io' -> 'gate'."""
    n = name.strip().lower()
    n = re.sub(r"\s+\d+$", "", n)  # "binance 14" -> "binance"
    if n in ENTITY_ALIASES:
        return ENTITY_ALIASES[n]
    slug = re.sub(r"[^a-z0-9.]+", "-", n).strip("-")
    if slug in ENTITY_ALIASES:
        return ENTITY_ALIASES[slug]
    for suf in _SUFFIXES:
        if slug.endswith(suf) and len(slug) > len(suf):
            slug = slug[: -len(suf)]
    slug = ENTITY_ALIASES.get(slug, slug).replace(".", "-")
    return slug


def normalize_address(chain: str, address: str) -> str:
    """Ethereum: lowercase hex. Bitcoin: bech32 (bc1/tb1/bcrt1) lowercased, base58 kept as is (case matters)."""
    a = address.strip()
    if chain == "ethereum":
        return a.lower()
    if chain == "bitcoin" and a.lower().startswith(("bc1", "tb1", "bcrt1")):
        return a.lower()
    return a


_ETH_RE = re.compile(r"^0x[0-9a-f]{40}$")
_BTC_RE = re.compile(r"^([13mn2][1-9A-HJ-NP-Za-km-z]{24,40}|(bc1|tb1|bcrt1)[02-9ac-hj-np-z]{8,87})$")


def valid_address(chain: str, address: str) -> bool:
    if chain == "ethereum":
        return bool(_ETH_RE.match(address))
    if chain == "bitcoin":
        return bool(_BTC_RE.match(address))
    return False
