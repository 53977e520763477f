"""Poll an ETF page or API and publish only what is new or revised.

Conditional requests: the ETag and Last-Modified of the last answer go back as If-None-Match and
If-Modified-Since; a 304 publishes nothing. What was published is remembered in a small state
file (figure per fund and day, the column set, the validators), written only after the events
were handed over, so a crash between fetch and publish fetches again rather than losing figures.

published_ts: on the first poll (empty state) the history rule applies (capped at the poll
time); afterwards a figure that appears, or changes, is stamped with the poll time. A revision
is a new event; nothing is overwritten.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from .events import DEFAULT_PUBLISH_DELAY_H, ReadResult, Skipped, history_published_ts, to_event
from .formats import SOURCE_NAMES, read_any
from .sosovalue import KEY_HEADER, request_body

USER_AGENT = "cascadewatch-etf-poll/1 (+https://cascadewatch.dev/docs/etf)"
MIN_INTERVAL_S = 60.0
MAX_BACKOFF_S = 3600.0


class PollError(RuntimeError):
    """A fetch that failed (network, HTTP status, unreadable body). The message never holds the key."""


@dataclass
class PollResult:
    status: int
    events: list[dict] = field(default_factory=list)
    read: ReadResult = field(default_factory=ReadResult)
    columns_changed: str | None = None
    retry_after_s: float | None = None


class EtfPoller:
    """One source (URL + format + asset). `poll_once()` fetches; `commit()` records what was published."""

    def __init__(self, url: str, asset: str, fmt: str, state_path: Path, *, client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time, api_key: str | None = None,
                 delay_h: float = DEFAULT_PUBLISH_DELAY_H):
        self.url, self.asset, self.fmt = url, asset, fmt
        self.state_path = Path(state_path)
        self.client = client or httpx.Client(timeout=30.0, follow_redirects=True)
        self.clock = clock
        self._key = api_key
        self.delay_h = delay_h
        self.state = self._load()
        self._pending: dict | None = None

    def _load(self) -> dict:
        if self.state_path.exists():
            return orjson.loads(self.state_path.read_bytes())
        return {"validators": {}, "known": {}, "columns": None}

    def _request(self) -> httpx.Response:
        headers = {"User-Agent": USER_AGENT}
        v = self.state["validators"]
        if v.get("etag"):
            headers["If-None-Match"] = v["etag"]
        if v.get("last_modified"):
            headers["If-Modified-Since"] = v["last_modified"]
        try:
            if self.fmt == "sosovalue":
                if self._key:
                    headers[KEY_HEADER] = self._key
                headers["Content-Type"] = "application/json"
                return self.client.post(self.url, content=request_body(self.asset), headers=headers)
            return self.client.get(self.url, headers=headers)
        except httpx.HTTPError as exc:
            # the exception text names the URL and the error class only; headers are not in it
            raise PollError(f"fetching {self.url} failed: {type(exc).__name__}: {exc}") from None

    def poll_once(self) -> PollResult:
        resp = self._request()
        if resp.status_code == 304:
            return PollResult(304)
        if resp.status_code in (429, 503):
            retry = resp.headers.get("Retry-After")
            res = PollResult(resp.status_code, retry_after_s=float(retry) if retry and retry.isdigit() else None)
            return res
        if resp.status_code != 200:
            raise PollError(f"{self.url} answered HTTP {resp.status_code}")
        try:
            read = read_any(resp.content, self.fmt, self.asset)
        except ValueError as exc:
            raise PollError(f"{self.url}: {exc}") from None
        now_ms = int(self.clock() * 1000)
        first = not self.state["known"]
        known = dict(self.state["known"])
        events = []
        for fig in read.figures:
            k = f"{fig.asset}|{fig.fund}|{fig.date}"
            if k in known and abs(known[k] - fig.usd) < 0.005:
                continue
            pub = fig.published_ts or (min(history_published_ts(fig.date, self.delay_h), now_ms) if first else now_ms)
            events.append(to_event(fig, SOURCE_NAMES.get(self.fmt, self.fmt), pub))
            known[k] = fig.usd
        changed = None
        old_cols = self.state.get("columns")
        if read.columns and old_cols is not None and read.columns != old_cols:
            added = [c for c in read.columns if c not in old_cols]
            removed = [c for c in old_cols if c not in read.columns]
            changed = (f"the column set changed: added {', '.join(added) or 'none'}; "
                       f"removed {', '.join(removed) or 'none'}")
            read.warnings.insert(0, Skipped("header", changed))
        self._pending = {"validators": {"etag": resp.headers.get("ETag"),
                                        "last_modified": resp.headers.get("Last-Modified")},
                         "known": known, "columns": read.columns or old_cols}
        return PollResult(200, events, read, changed)

    def commit(self) -> None:
        """Remember what the last poll published (call after publishing its events)."""
        if self._pending is None:
            return
        self.state = self._pending
        self._pending = None
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.state))
        os.replace(tmp, self.state_path)


    def close(self) -> None:
        self.client.close()


def next_wait(every_s: float, failures: int, retry_after_s: float | None = None) -> float:
    """The polite interval, doubled per consecutive failure up to an hour, or what Retry-After says."""
    base = max(every_s, MIN_INTERVAL_S)
    if retry_after_s is not None:
        return max(retry_after_s, base)
    return min(base * (2 ** failures), max(MAX_BACKOFF_S, base))
