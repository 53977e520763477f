"""The `cascadewatch` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer
from rich.markup import escape

from pipeline.backtest.cli import backtest
from pipeline.calibrate import calibrate_command
from pipeline.config import Settings
from pipeline.paths import output_file
from pipeline.runtime.gc_tuning import tune_gc
from pipeline.redact import redact_url
from pipeline.labels.cli import labels_app
from pipeline.report.cli import report
from pipeline.scenarios.cli import evaluate, simulate
from pipeline.sinks.cli import schema_app, sql
from pipeline.sinks.render import terminal_console
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.etf.cli import etf_app
from pipeline.sources.exchanges.cli import normalize
from pipeline.sources.exchanges.feed_cli import feed

app = typer.Typer(
    help="cascadewatch: watch whale deposit -> sell -> liquidation cascade sequences form, on Kafka and ClickHouse.\n\n"
    "With no services configured it runs on embedded defaults: a Tansu Kafka-API broker started as a child "
    "process and chDB under ./var. Set KAFKA_BOOTSTRAP and CLICKHOUSE_URL to use real services.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
instruments_app = typer.Typer(help="Venue instrument metadata (contract sizes).", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts out of Kafka: terminal, webhooks, chat.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(topics_app, name="topics")
app.add_typer(alerts_app, name="alerts")
app.add_typer(instruments_app, name="instruments")
app.add_typer(labels_app, name="labels")
app.add_typer(watch_app, name="watch")
app.add_typer(etf_app, name="etf")
app.command("backtest")(backtest)
app.command("calibrate")(calibrate_command)
app.command("normalize")(normalize)
app.command("feed")(feed)
app.command("simulate")(simulate)
app.command("evaluate")(evaluate)
app.command("sql")(sql)
app.command("report")(report)
console = terminal_console()
err = terminal_console(stderr=True)


def _fail(msg: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Bundled scenario name, or a path to an interchange file")] = "aug2025",
    follow: Annotated[bool, typer.Option("--follow", help="Keep the worker running after the scenario")] = False,
) -> None:
    """Start everything on embedded defaults, replay a scenario shaped like the Aug 2025 crash, print alerts."""
    from pipeline.runtime.demo import DemoError, run_demo
    from pipeline.scenarios import bundled

    settings = Settings()
    path = Path(scenario) if Path(scenario).exists() else bundled(scenario)
    try:
        alerts = run_demo(settings, path, follow=follow, console=console)
    except DemoError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        err.print("interrupted: broker and worker stopped")
        raise typer.Exit(130) from None
    cascades = list({a["alert_id"]: a for a in alerts if a["stage"] == "cascade"}.values())  # revisions: one each
    console.print(f"\n[bold]{len(alerts)} alerts[/], {len(cascades)} cascade{'' if len(cascades) == 1 else 's'}. "
                  f"Stored in {redact_url(settings.clickhouse_url)}; try:")
    console.print('  cascadewatch sql "SELECT asset, side, count(), round(sum(notional_usd)/1e6, 1) AS usd_m '
                  'FROM liquidations FINAL GROUP BY asset, side ORDER BY asset, side"')
    console.print('  cascadewatch sql "SELECT ts, asset, stage, severity FROM alerts FINAL ORDER BY ts"')
    if not cascades:
        _fail("the scenario produced no cascade alert")
    from pipeline.report.cli import write_report
    from pipeline.sinks.clickhouse import open_store

    # The story's headline: a whale's cascade first, else the earliest (alerts of different assets
    # arrive from different partitions, in no fixed order).
    main = min(cascades, key=lambda a: (a["kind"] != "whale_cascade", a["ts"], a["asset"]))
    with open_store(settings.clickhouse_url) as store:
        html_path, _ = write_report(store, main["alert_id"], Path(settings.data_dir) / "reports")
    console.print(f"[bold]Report[/] of the {main['asset']} cascade: {html_path}")


@app.command()
def worker(
    metrics_port: Annotated[int, typer.Option(help="Serve Prometheus metrics on PORT (0 = off), bound to CASCADEWATCH_METRICS_ADDR")] = 0,
    sink: Annotated[bool, typer.Option(help="Also write events and alerts to ClickHouse")] = True,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error")] = "warning",
) -> None:
    """Run the Faust worker: detector agent and ClickHouse sink. Needs KAFKA_BOOTSTRAP; a broker that is not up
    yet is waited for, retrying with backoff (CASCADEWATCH_BROKER_WAIT_S bounds the wait)."""
    import faust
    import prometheus_client

    from pipeline.stream.app import build_app

    settings = Settings()
    if not settings.kafka_bootstrap:
        _fail("KAFKA_BOOTSTRAP is not set (host:port of a Kafka-API broker); `cascadewatch demo` starts one for you")
    from pipeline.runtime.wait_broker import BrokerUnavailable, wait_for_broker

    try:  # a broker that is not up yet is waited for (CASCADEWATCH_BROKER_WAIT_S bounds the wait)
        wait_for_broker(settings.kafka_bootstrap, timeout_s=settings.broker_wait_s,
                        report=lambda line: err.print(line, style="yellow", soft_wrap=True))
    except BrokerUnavailable as exc:
        _fail(str(exc))
    store = None
    if sink:
        from pipeline.sinks.clickhouse import open_store

        store = open_store(settings.clickhouse_url)
        store.apply_schema()
    if metrics_port:
        prometheus_client.start_http_server(metrics_port, addr=settings.metrics_addr)
    faust_app = build_app(settings, settings.kafka_bootstrap, store)
    datadir = Path(settings.data_dir) / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    faust_app.conf.datadir = str(datadir)
    tune_gc()
    faust.Worker(faust_app, loglevel=log_level.upper(), quiet=True).execute_from_commandline()


@app.command()
def replay(
    files: Annotated[list[Path], typer.Argument(help="Interchange files (JSON lines, any order of lines)", exists=True,
                                                dir_okay=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write alerts here as JSON lines (default stdout)",
                                                callback=output_file)] = None,
) -> None:
    """Run the detection core offline over files: the same alerts the streaming agents would publish."""
    from rich.progress import Progress

    from pipeline.contracts.models import dump_event
    from pipeline.replay import ReplayResult, load, run

    settings = Settings()
    tune_gc()
    loaded = ReplayResult()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        bar.add_task("loading", total=None)
        events = load(files, loaded, max_bytes=settings.max_event_bytes)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("replaying", total=len(events))
        result = run(events, settings.detector, progress=lambda i: bar.update(task, completed=i))
    sink = open(out, "wb") if out else sys.stdout.buffer
    try:
        for alert in result.alerts:
            sink.write(dump_event(alert) + b"\n")
    finally:
        if out:
            sink.close()
    for bad in loaded.bad[:20]:
        err.print(f"[yellow]skipped[/] {bad.path}:{bad.line_no}: {bad.error}")
    err.print(f"{result.events:,} events, {len(result.alerts)} alerts, {len(loaded.bad)} bad lines, "
              f"{result.late} late, {result.duplicates} duplicates")
    if not events:
        _fail("no event could be read from " + ", ".join(escape(str(f)) for f in files)
              + (": every line was refused (above)" if loaded.bad else ": the files are empty"))




@instruments_app.command("refresh")
def instruments_refresh(
    venue: Annotated[str, typer.Argument(help="okx (the venue whose contract sizes vary per instrument family)")],
    base_url: Annotated[str, typer.Option(help="REST base URL")] = "https://www.okx.com",
    out: Annotated[Optional[Path], typer.Option(help="Write here instead of the bundled snapshot")] = None,
) -> None:
    """Refresh the bundled contract-size snapshot from the venue's public REST API."""
    from pipeline.sources.exchanges.refresh import refresh_okx

    if venue != "okx":
        _fail(f"no refresh for {venue!r}: its snapshot states a fixed rule (see its _source); only okx is refreshed")
    try:
        snap = refresh_okx(base_url, out)
    except Exception as exc:  # noqa: BLE001 - network and venue errors are shown as one line
        _fail(f"refresh failed, snapshot unchanged: {type(exc).__name__}: {exc}")
    console.print(f"okx: {len(snap['linear'])} linear and {len(snap['inverse']['families'])} inverse families")


@topics_app.command("create")
def topics_create() -> None:
    """Create the pipeline's topics on KAFKA_BOOTSTRAP with the configured partition count."""
    from pipeline.runtime.topics import ensure_topics

    settings = Settings()
    if not settings.kafka_bootstrap:
        _fail("KAFKA_BOOTSTRAP is not set")
    created = ensure_topics(settings, settings.kafka_bootstrap)
    console.print(f"created: {', '.join(created) or 'none (all exist)'}")


@app.command()
def produce(
    files: Annotated[list[Path], typer.Argument(help="Interchange files to publish, in file order", exists=True)],
    single: Annotated[bool, typer.Option("--single-events", help="One event per Kafka message instead of batch "
                                         "envelopes (same as CASCADEWATCH_BATCH__ENABLED=false)")] = False,
) -> None:
    """Publish interchange files to their topics on KAFKA_BOOTSTRAP (keyed by asset), in batch envelopes of events
    at most CASCADEWATCH_BATCH__LINGER_S apart in arrival time (schemas/batch.schema.json)."""
    from pipeline.wire.producer import publish

    settings = Settings()
    if single:
        settings = settings.model_copy(update={"batch": settings.batch.model_copy(update={"enabled": False})})
    if not settings.kafka_bootstrap:
        _fail("KAFKA_BOOTSTRAP is not set")
    events = []
    for f in files:
        for number, line in enumerate(f.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                _fail(f"{escape(str(f))} line {number} is not JSON ({exc}): nothing was published", 2)
    n = publish(events, settings.kafka_bootstrap, settings)
    console.print(f"published {n:,} events")


@alerts_app.command("follow")
def alerts_follow(
    webhook: Annotated[Optional[list[str]], typer.Option(help="POST each alert's JSON here (repeatable)")] = None,
    chat: Annotated[Optional[list[str]], typer.Option(help="POST {\"text\": ...} here: Slack/Mattermost-style incoming webhook (repeatable)")] = None,
    min_severity: Annotated[str, typer.Option(help="info | warning | high | critical")] = "info",
    group: Annotated[str, typer.Option(help="Consumer group: deliveries resume where this group left off")] = "cascadewatch-alerts-out",
    from_beginning: Annotated[bool, typer.Option(help="A new group starts at the oldest alert, not the next one")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds one attempt at a webhook may take, from connecting "
                                           "to the whole answer; a failed attempt is retried 3 times with backoff")] = 10.0,
) -> None:
    """Print alerts as they arrive on the alerts topic and deliver them to webhooks. Needs KAFKA_BOOTSTRAP."""
    from kafka import KafkaConsumer

    from pipeline.redact import redact_url, scrub, scrub_logs
    from pipeline.sinks.alerts import SEVERITIES, Delivery, Webhook
    from pipeline.sinks.render import alert_line

    settings = Settings()
    if not settings.kafka_bootstrap:
        _fail("KAFKA_BOOTSTRAP is not set")
    if min_severity not in SEVERITIES:
        _fail(f"--min-severity must be one of {', '.join(SEVERITIES)}")
    scrub_logs([*(webhook or []), *(chat or [])])  # httpx logs each request's URL: the token is in it
    delivery = Delivery([Webhook(u, timeout_s=timeout) for u in webhook or []]
                        + [Webhook(u, chat=True, timeout_s=timeout) for u in chat or []],
                        min_severity=min_severity,
                        on_error=lambda t, a, e: err.print(f"[red]delivery to {escape(redact_url(t.url))} failed[/]: "
                                                           f"{escape(scrub(str(e), [t.url]))}"))
    # Between two polls every alert of the first may go to every target at its worst (each attempt to its timeout):
    # the poll interval allows that, so endpoints that hang never push the consumer out of its group.
    per_poll = 10
    worst_s = per_poll * sum(t.worst_s for t in delivery.targets) + 30
    consumer = KafkaConsumer(settings.topics.alerts, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                             auto_offset_reset="earliest" if from_beginning else "latest", enable_auto_commit=False,
                             max_poll_interval_ms=int(max(300.0, worst_s) * 1000), max_poll_records=per_poll)
    try:
        while True:
            for records in consumer.poll(timeout_ms=1000).values():
                alerts = [orjson.loads(r.value) for r in records]
                for alert in alerts:
                    if delivery.wanted(alert):
                        console.print(alert_line(alert))
                delivery.deliver(alerts)
            consumer.commit()
    except KeyboardInterrupt:
        err.print(f"stopped: {delivery.delivered} delivered, {delivery.failed} failed")
    finally:
        consumer.close()


def main() -> None:
    app()
