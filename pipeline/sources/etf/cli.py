"""`cascadewatch etf import|poll|show`: bring spot-ETF flows in, keep them current, look at them.

Mounted with: app.add_typer(etf_app, name="etf")
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import httpx
import orjson
import typer
from kafka.errors import KafkaError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from pipeline.config import Settings

from .events import DEFAULT_PUBLISH_DELAY_H, ReadResult, summary
from .formats import FORMATS, FormatError, detect_format, load_events
from .poll import EtfPoller, PollError, next_wait
from .show import whole_console
from .sosovalue import KEY_HEADER, ApiError, api_key, request_body
from .wide import FOOTER_REASON, TableError

etf_app = typer.Typer(help="Spot-ETF daily net flows: import history, poll a page or API, show streaks and sums. "
                      "See docs/etf.md.", no_args_is_help=True)
err = whole_console(stderr=True)

DEFAULT_URLS = {("farside-html", "BTC"): "https://farside.co.uk/btc/",
                ("farside-html", "ETH"): "https://farside.co.uk/eth/",
                ("sosovalue", "BTC"): "https://api.sosovalue.xyz/openapi/v2/etf/historicalInflowChart",
                ("sosovalue", "ETH"): "https://api.sosovalue.xyz/openapi/v2/etf/historicalInflowChart"}

Asset = Annotated[str, typer.Option("--asset", help="BTC or ETH: the asset the funds hold", case_sensitive=False)]
Delay = Annotated[float, typer.Option("--publish-delay-hours", envvar="CASCADEWATCH_ETF_PUBLISH_DELAY_HOURS",
                                      help="History rule: a day's figures count as published at its US close "
                                           "(16:00 New York) plus this many hours")]


def _fail(msg: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)


def _check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")


def _fetch(url: str, fmt: str | None, asset: str) -> bytes:
    headers = {"User-Agent": "cascadewatch-etf-import/1"}
    try:
        with httpx.Client(timeout=30.0, follow_redirects=True) as client:
            if fmt == "sosovalue":
                key = api_key()
                if key:
                    headers[KEY_HEADER] = key
                headers["Content-Type"] = "application/json"
                resp = client.post(url, content=request_body(asset), headers=headers)
            else:
                resp = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        _fail(f"fetching {url} failed: {type(exc).__name__}: {exc}")
    if resp.status_code != 200:
        _fail(f"{url} answered HTTP {resp.status_code}")
    return resp.content


def _publish(events: list[dict], settings: Settings) -> None:
    from pipeline.wire.producer import publish

    if not settings.kafka_bootstrap:
        _fail("KAFKA_BOOTSTRAP is not set: set it to publish to the etf.flows topic, or write a file with --out")
    with Progress(TextColumn("publishing to " + settings.topics.etf_flows), BarColumn(), MofNCompleteColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("publish", total=len(events))
        publish(events, settings.kafka_bootstrap, settings, progress=lambda n: bar.update(task, completed=n))


def _write(events: list[dict], out: Path, append: bool = False) -> None:
    with out.open("ab" if append else "wb") as f:
        for e in events:
            f.write(orjson.dumps(e) + b"\n")


def _print_problems(res: ReadResult, limit: int = 50, footers: bool = True) -> None:
    skipped = [s for s in res.skipped if footers or s.reason != FOOTER_REASON]
    for label, items in (("skipped", skipped), ("warning", res.warnings)):
        for s in items[:limit]:
            err.print(f"  {label}: {s}", markup=False, highlight=False)
        if len(items) > limit:
            err.print(f"  ... and {len(items) - limit} more {label} rows")


@etf_app.command("import")
def import_(
    source: Annotated[str, typer.Argument(help="A file (Farside HTML page, wide CSV, long CSV, JSON lines, "
                                                "SoSoValue-shaped JSON) or an http(s) URL")],
    asset: Asset = "BTC",
    fmt: Annotated[Optional[str], typer.Option("--format", help=f"{' | '.join(FORMATS)}; detected when not given")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write etf_flow events as JSON lines here instead of "
                                                               "publishing them to the etf.flows topic")] = None,
    delay_h: Delay = DEFAULT_PUBLISH_DELAY_H,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Read ETF flows (US$ millions on pages and in CSVs; USD on the topic) and publish or write them as events.

    Figures with no publication time get the history rule (US close + --publish-delay-hours).

    Ends with a summary: days, funds, events, and every skipped row with its reason.
    """
    asset = asset.upper()
    _check_format(fmt)
    is_url = re.match(r"^https?://", source) is not None
    if is_url:
        data = _fetch(source, fmt, asset)
    else:
        path = Path(source)
        if not path.is_file():
            _fail(f"{source} is a directory: name a file" if path.is_dir() else f"no such file: {source}")
        data = path.read_bytes()
    try:
        fmt = fmt or detect_format(data, source)
        events, res = load_events(data, fmt, asset, name=source, delay_h=delay_h, now_ms=int(time.time() * 1000))
    except (FormatError, TableError, ApiError) as exc:
        _fail(str(exc))
    if out is not None:
        _write(events, out)
    elif events:
        _publish(events, Settings())
    s = summary(events, res)
    s.update({"format": fmt, "to": str(out) if out else Settings().topics.etf_flows})
    if as_json:
        typer.echo(orjson.dumps(s).decode())
    else:
        span = f" ({s['first_day']} to {s['last_day']})" if s["days"] else ""
        err.print(f"[bold]{s['events']:,} events[/] ({fmt}, {asset}) -> {s['to']}: {s['days']} days{span}, "
                  f"{s['funds']} funds, {len(res.skipped)} rows skipped, {len(res.warnings)} warnings")
        _print_problems(res)
    if not events:
        _fail("nothing imported")


def parse_every(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise typer.BadParameter(f"{text!r}: use seconds or a number with s, m or h (e.g. 15m)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


@etf_app.command()
def poll(
    asset: Asset = "BTC",
    url: Annotated[Optional[str], typer.Option(help="Page or API to poll (default: the Farside page of the asset, "
                                                     "or SoSoValue's endpoint with --format sosovalue)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="farside-html | sosovalue | wide-csv | long-csv | jsonl")] = "farside-html",
    every: Annotated[str, typer.Option(help="Interval between polls (at least 60 s); doubled after each failure, up to 1 h")] = "15m",
    state: Annotated[Optional[Path], typer.Option(help="State file: validators and the figures already published "
                                                       "(default: CASCADEWATCH_DATA_DIR/etf_poll_ASSET.json)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Append events to this JSON lines file instead of publishing")] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit")] = False,
    delay_h: Delay = DEFAULT_PUBLISH_DELAY_H,
) -> None:
    """Fetch the page or API with conditional requests and publish only figures that are new or revised.

    The first poll (no state yet) stamps figures with the history rule.

    Later polls stamp new and revised figures with the poll time.

    The SoSoValue key comes from CASCADEWATCH_SOSOVALUE_API_KEY and is never printed.
    """
    asset = asset.upper()
    _check_format(fmt)
    every_s = parse_every(every)
    settings = Settings()
    url = url or DEFAULT_URLS.get((fmt, asset))
    if url is None:
        _fail(f"no default URL for {fmt} {asset}; pass --url")
    state = state or Path(settings.data_dir) / f"etf_poll_{asset}.json"
    poller = EtfPoller(url, asset, fmt, state, api_key=api_key() if fmt == "sosovalue" else None, delay_h=delay_h)
    try:
        _poll_loop(poller, url, every_s, once, out, settings)
    finally:
        poller.close()


def _poll_loop(poller: EtfPoller, url: str, every_s: float, once: bool, out: Path | None, settings: Settings) -> None:
    failures = 0
    while True:
        retry_after = None
        try:
            res = poller.poll_once()
            if res.status == 200:
                if res.events and out is not None:
                    _write(res.events, out, append=True)
                elif res.events:
                    _publish(res.events, settings)
                poller.commit()
                bad = [s for s in res.read.skipped if s.reason != FOOTER_REASON]
                err.print(f"{time.strftime('%H:%M:%S')} {url}: {len(res.events)} new or revised figures, "
                          f"{len(bad)} rows skipped", markup=False, highlight=False)
                _print_problems(res.read, footers=False)
                failures = 0
            elif res.status == 304:
                err.print(f"{time.strftime('%H:%M:%S')} {url}: not modified", markup=False, highlight=False)
                failures = 0
            else:
                failures += 1
                retry_after = res.retry_after_s
                err.print(f"{url}: HTTP {res.status}, backing off", markup=False, highlight=False)
        except (PollError, KafkaError) as exc:
            # nothing was committed: the next poll fetches and publishes the same figures again
            failures += 1
            err.print(f"[red]poll failed[/]: {exc}", highlight=False)
            if once:
                raise typer.Exit(1) from None
        if once:
            return
        try:
            time.sleep(next_wait(every_s, failures, retry_after))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


def _events_from_store(settings: Settings, asset: str) -> list[dict]:
    from pipeline.sinks.clickhouse import open_store

    from .show import stored_events

    store = open_store(settings.clickhouse_url)
    try:
        return stored_events(store, asset)
    finally:
        store.close()


@etf_app.command()
def show(
    asset: Asset = "BTC",
    days: Annotated[int, typer.Option(help="Trading days to list", min=1)] = 20,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Show what was known then: YYYY-MM-DD (end of that "
                                                                  "UTC day) or an ISO time; default now")] = None,
    files: Annotated[Optional[list[Path]], typer.Option("--file", help="Read these files (any import format) "
                                                                       "instead of the etf_flows table")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    delay_h: Delay = DEFAULT_PUBLISH_DELAY_H,
) -> None:
    """The last trading days per fund and in total, and the context an alert would carry.

    Context: consecutive outflow (or inflow) days, 5- and 20-day sums, z-score of the latest day against the prior 20.
    """
    from .show import as_of_ms, ledger_for, render, report

    asset = asset.upper()
    events: list[dict] = []
    if files:
        for f in files:
            if not f.is_file():
                _fail(f"{f} is a directory: name a file" if f.is_dir() else f"no such file: {f}")
            try:
                evs, _ = load_events(f.read_bytes(), None, asset, name=str(f), delay_h=delay_h)
            except (FormatError, TableError, ApiError) as exc:
                _fail(f"{f}: {exc}")
            events += evs
    else:
        events = _events_from_store(Settings(), asset)
    try:
        at = as_of_ms(as_of, int(time.time() * 1000))
    except ValueError:
        _fail(f"--as-of {as_of!r}: use YYYY-MM-DD or an ISO time")
    rep = report(ledger_for(events, asset), asset, at, days)
    if as_json:
        sys.stdout.write(orjson.dumps(rep).decode() + "\n")
    else:
        render(rep, whole_console())
