"""A JSON API source shaped like SoSoValue's ETF endpoints.

- `historicalInflowChart` (POST, body `{"type": "us-btc-spot"}`): `{"code": 0, "data": [{"date":
  "2024-01-11", "totalNetInflow": 655300000, ...}, ...]}` (or `data.list`), day totals in USD;
  they become fund `TOTAL` figures.
- `currentEtfDataMetrics` (same body): `data.list[]` of funds with `ticker` and
  `dailyNetInflow: {"value": ..., "lastUpdateDate": "2024-11-01"}`, the latest day per fund.

The key is read from the environment (CASCADEWATCH_SOSOVALUE_API_KEY, or SOSOVALUE_API_KEY) and
sent as the `x-soso-api-key` header. It is never logged, printed or put into an error message.
"""

from __future__ import annotations

import os

import orjson

from .events import TOTAL_FUND, FlowFigure, ReadResult, Skipped, parse_day

KEY_ENV = ("CASCADEWATCH_SOSOVALUE_API_KEY", "SOSOVALUE_API_KEY")
KEY_HEADER = "x-soso-api-key"
TYPES = {"BTC": "us-btc-spot", "ETH": "us-eth-spot"}


class ApiError(ValueError):
    """The API answered with an error code or a body of another shape."""


def api_key() -> str | None:
    for name in KEY_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def request_body(asset: str) -> bytes:
    if asset not in TYPES:
        raise ApiError(f"no SoSoValue ETF type for {asset}; known: {', '.join(TYPES)}")
    return orjson.dumps({"type": TYPES[asset]})


def _value(v):
    return v.get("value") if isinstance(v, dict) else v


def read_sosovalue(data: bytes, asset: str) -> ReadResult:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"the API answer is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("code") not in (0, "0", None) or "data" not in doc:
        raise ApiError(f"the API answered code={doc.get('code') if isinstance(doc, dict) else '?'} "
                       f"msg={doc.get('msg') if isinstance(doc, dict) else '?'}")
    body = doc["data"]
    rows = body.get("list") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise ApiError("the API answer has no list of days or funds under data")
    res = ReadResult()
    for n, row in enumerate(rows, start=1):
        where = f"data item {n}"
        if not isinstance(row, dict):
            res.skipped.append(Skipped(where, "not an object"))
            continue
        if "ticker" in row:  # currentEtfDataMetrics: one fund, its latest day
            flow = row.get("dailyNetInflow")
            date = parse_day(str(flow.get("lastUpdateDate", ""))) if isinstance(flow, dict) else None
            fund, value, col = str(row["ticker"]).strip(), _value(flow), "dailyNetInflow"
        else:  # historicalInflowChart: one day, its total
            date = parse_day(str(row.get("date", "")))
            fund, value, col = TOTAL_FUND, row.get("totalNetInflow"), "totalNetInflow"
        if date is None:
            res.skipped.append(Skipped(where, "no date", "date"))
            continue
        if value in (None, ""):
            continue
        try:
            usd = float(value)
        except (TypeError, ValueError):
            res.skipped.append(Skipped(f"{where} ({date})", f"not a figure: {value!r}", col))
            continue
        res.figures.append(FlowFigure(asset, fund, date, round(usd, 2)))
    return res
