"""Hyperliquid: `trades` taker flow, and the backstop liquidations those trades show.

Hyperliquid's public API has no market-wide liquidation feed. Liquidations are visible only in
per-user data (`userFills` carries a `liquidation` object for the liquidated user's fills), which
would need the address of every account, or a node's fills (archives/hyperliquid_fills.py). Those
per-user messages are skipped here (reason "per_user_feed"), never turned into market-wide events.

What the public `trades` channel does show: each trade's `users`, [buyer, seller]. A trade in which
the liquidator vault (HLP Liquidator, a child vault of HLP) is a party is a backstop liquidation:
the vault took over a position the book could not absorb. The vault buying means a long was
closed (side "long"), the vault selling a short. These are published as liquidations with
completeness "partial": market liquidations (sold into the book, most of them) look like any
other trade and are not seen, and the vault's own later trades out of the positions it took over
cannot be told apart from a backstop. The event id is the node fills' (`hyperliquid:{coin}:{tid}`),
so the same liquidation imported later from a node replaces the partial one.

- `side` "B" = the aggressor bought (taker buy), "A" = the aggressor sold; `sz` is in coin units;
  `time` is ms. Perps are USDC-margined: notional = px * sz, USDC taken as USD.
- Spot pairs ('@107', 'PURR/USDC') and builder-deployed perps ('dex:COIN') are skipped.
- Leverage: `activeAssetCtx` per coin (WsActiveAssetCtx {coin, ctx}): `openInterest` in coins
  (USD at `markPx`), `funding` per HOUR (Hyperliquid pays funding hourly), `markPx`. The message
  has no time of its own: it is stamped with its receive time. The REST `metaAndAssetCtxs` answer
  ([{universe: [{name}, ...]}, [ctx, ...]], contexts in universe order) gives the same figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .base import ASSET_RE, Instrument, ParseError, ParseResult, Venue, ms, num, pos, text, unwrap_items
from .spec import VenueSpec

_SKIP_CHANNELS = {"subscriptionResponse", "pong", "l2Book", "allMids", "candle", "bbo",
                  "notification", "webData2", "post", "error"}
_PER_USER = {"userFills", "userEvents", "userFundings", "userNonFundingLedgerUpdates", "orderUpdates",
             "userTwapSliceFills", "userTwapHistory", "activeAssetData"}
_SIDES = {"B": "buy", "A": "sell"}
# HLP Liquidator, listed among HLP's child vaults in the API docs' vaultDetails example; lowercase
LIQUIDATOR_VAULTS = frozenset({"0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"})
_ASSET_OK = re.compile(r"[A-Za-z0-9]{2,12}")  # coin.upper() fits ASSET_RE: a perp, not spot or a builder dex


class Hyperliquid(Venue):
    name = "hyperliquid"
    completeness = "partial"  # backstop liquidations only (module docstring)
    has_liquidations = True

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        channel = msg.get("channel")
        if channel == "trades":
            out = ParseResult()
            for d in unwrap_items(msg.get("data")):
                t = self._trade(d)
                if t is None:
                    out.skipped = "non_perp_coin"
                    continue
                out.trades.append(t)
                vault_bought = _vault_side(d.get("users"))
                if vault_bought is not None:
                    out.liquidations.append(self._backstop(t, vault_bought, received_ts))
            return out
        if channel == "activeAssetCtx":
            data = msg.get("data")
            if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
                raise ParseError("activeAssetCtx: expected data {coin, ctx}")
            ev = self._asset_ctx(text(data.get("coin"), "coin"), data["ctx"], received_ts, "activeAssetCtx")
            return ParseResult(leverage=[ev]) if ev is not None else ParseResult(skipped="non_perp_coin")
        if channel in _PER_USER:
            return ParseResult(skipped="per_user_feed")
        if channel in _SKIP_CHANNELS:
            if channel == "error":
                raise ParseError(f"venue error: {str(msg.get('data'))[:120]}")
            return ParseResult(skipped=str(channel))
        raise ParseError(f"unknown channel {str(channel)[:60]!r}")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        data = msg.get("data")
        if msg.get("channel") != "trades" or type(data) is not list:
            return None
        rows = []
        for d in data:
            if type(d) is not dict:
                return None
            coin, t, px, sz, side = d.get("coin"), d.get("time"), d.get("px"), d.get("sz"), d.get("side")
            if type(coin) is not str or not _ASSET_OK.fullmatch(coin) or type(t) is not int or type(px) is not str \
                    or type(sz) is not str or (side != "A" and side != "B"):
                return None
            if _vault_side(d.get("users")) is not None:
                return None  # a backstop liquidation: parse publishes it
            rows.append((coin, t, px, sz, side == "A"))
        return rows

    def trade_instrument(self, symbol: str) -> Instrument:
        return Instrument(symbol, symbol.upper(), "base", 1.0)  # perps: sz in coin units, px in USDC

    def _backstop(self, t, vault_bought: bool, received_ts: int):
        if t.trade_id is None:
            raise ParseError("backstop liquidation trade without tid")
        return self.liquidation(eid=f"{self.name}:{t.symbol}:{t.trade_id}", symbol=t.symbol, asset=t.asset,
                                side="long" if vault_bought else "short", price=t.price, qty_base=t.qty_base,
                                notional_usd=t.notional_usd, ts=t.ts, received_ts=received_ts)
    def asset_contexts(self, answer: Any, received_ts: int) -> ParseResult:
        """The REST `{"type": "metaAndAssetCtxs"}` answer: one leverage event per perp coin."""
        if not (isinstance(answer, list) and len(answer) == 2 and isinstance(answer[0], dict)
                and isinstance(answer[1], list)):
            return ParseResult(errors=["metaAndAssetCtxs: expected [meta, [ctx, ...]]"])
        universe = answer[0].get("universe")
        if not isinstance(universe, list) or len(universe) != len(answer[1]):
            return ParseResult(errors=["metaAndAssetCtxs: universe and contexts differ in length"])
        out = ParseResult()
        for coin, ctx in zip(universe, answer[1]):
            try:
                ev = self._asset_ctx(text(coin.get("name"), "name"), ctx, received_ts, "metaAndAssetCtxs")
            except (ParseError, AttributeError) as exc:
                out.errors.append(str(exc))
                continue
            if ev is not None:
                out.leverage.append(ev)
        return out

    def _asset_ctx(self, coin: str, ctx: dict, received_ts: int, source: str):
        asset = coin.upper()
        if not ASSET_RE.match(asset):
            return None  # spot pairs and builder-deployed perps
        mark = pos(ctx.get("markPx"), "markPx")
        oi = num(ctx.get("openInterest"), "openInterest")
        return self.leverage_event(symbol=coin, asset=asset, ts=received_ts, source=source, received_ts=received_ts,
                                   open_interest=oi, open_interest_usd=oi * mark, mark_price=mark,
                                   funding_rate=num(ctx.get("funding"), "funding"), funding_interval_ms=3_600_000)

    def _trade(self, d: dict):
        coin = text(d.get("coin"), "coin")
        asset = coin.upper()
        if not ASSET_RE.match(asset):
            return None
        side = _SIDES.get(d.get("side"))
        if side is None:
            raise ParseError(f"side: {d.get('side')!r}")
        price = pos(d.get("px"), "px")
        size = pos(d.get("sz"), "sz")
        return self.trade(symbol=coin, asset=asset, ts=ms(d.get("time"), "time"), price=price, qty_base=size,
                          notional_usd=price * size, taker_side=side, trade_id=d.get("tid"))


def _vault_side(users: Any) -> bool | None:
    """True when the liquidator vault is the buyer (users[0]), False when it is the seller, None when
    it is not a party (or `users` is missing: older messages and recordings have none)."""
    if type(users) is not list or len(users) != 2:
        return None
    buyer, seller = (u.lower() if isinstance(u, str) else "" for u in users)
    if buyer in LIQUIDATOR_VAULTS:
        return True
    if seller in LIQUIDATOR_VAULTS:
        return False
    return None


# --------------------------------------------------------------------------------------------
# live connection


@dataclass(frozen=True)
class HyperliquidSpec(VenueSpec):
    def url(self, symbols: list[str], base: str | None = None) -> str:
        return base or "wss://api.hyperliquid.xyz/ws"

    def subscribe(self, symbols: list[str]) -> list[str]:
        return [orjson.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": s}}).decode()
                for s in symbols]

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        return [orjson.dumps({"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": s}}).decode()
                for s in symbols]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and msg.get("channel") == "error":
            return str(msg.get("data"))
        return None


Hyperliquid.live = HyperliquidSpec("hyperliquid", app_ping=('{"method":"ping"}', 50.0))
