"""Venue messages shaped like each venue's documented examples, built with the fields a test varies."""


def okx_liq(inst_id, sz, px, pos_side, side, ts="1692266434010"):
    """An OKX liquidation-orders push with one detail."""
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [{"details": [{"bkLoss": "0", "bkPx": px, "ccy": "", "posSide": pos_side, "side": side,
                                   "sz": sz, "ts": ts}],
                      "instFamily": inst_id.rsplit("-", 1)[0], "instId": inst_id, "instType": "SWAP",
                      "uly": inst_id.rsplit("-", 1)[0]}]}


def deribit_trade(liq=None, direction="sell", name="BTC-PERPETUAL", amount=1000.0, price=50000.0):
    """A Deribit trades push with one trade (`liq`: its liquidation flag, "M", "T" or "MT")."""
    t = {"trade_seq": 1, "trade_id": "ETH-123", "timestamp": 1626993723900, "tick_direction": 0, "price": price,
         "mark_price": price, "instrument_name": name, "index_price": price, "direction": direction,
         "amount": amount}
    if liq:
        t["liquidation"] = liq
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": f"trades.{name}.raw", "data": [t]}}
