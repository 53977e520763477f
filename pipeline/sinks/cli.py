"""The `cascadewatch sql` and `cascadewatch schema` commands: query the store and manage its DDL."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

from pipeline.config import Settings
from pipeline.sinks.output import FORMATS, write_rows
from pipeline.sinks.render import terminal_console

schema_app = typer.Typer(help="ClickHouse schema (DDL in schemas/clickhouse/).", no_args_is_help=True)
err = terminal_console(stderr=True)


def _fail(msg: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {msg}", soft_wrap=True)
    raise typer.Exit(code)


def sql(
    query: Annotated[str, typer.Argument(help="SQL; tables are in the cascadewatch database (unqualified names work)")],
    fmt: Annotated[str, typer.Option(
        "--format", "-f",
        help="table: a table on a terminal, whole plain columns when piped | csv | tsv (ClickHouse escaping, "
        "NULL as \\N) | json (one object per line)")] = "table",
) -> None:
    """Query the stored events, rollups and alerts (CLICKHOUSE_URL, default chdb://./var/chdb).

    Values are never cut: piped or redirected output holds every character of every cell.
    """
    from pipeline.sinks.clickhouse import open_store

    if fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    settings = Settings()
    try:
        store = open_store(settings.clickhouse_url)
        try:
            names, rows = store.query(query)
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - any driver/engine error is shown as one clear message
        _fail(f"{type(exc).__name__}: {exc}")
    write_rows(names, rows, fmt)


@schema_app.command("apply")
def schema_apply(
    cluster: Annotated[Optional[str], typer.Option(
        help="Apply ON CLUSTER NAME: each table as <table>_local (Replicated engine, replica path "
        "/clickhouse/tables/{shard}/DB/<table>_local) plus <table> (Distributed, sharded by asset)")] = None,
    print_only: Annotated[bool, typer.Option("--print", help="Print the statements instead of running them")] = False,
) -> None:
    """Create the database, tables and views if missing and bring older tables up to date (idempotent:
    existing rows are kept). Retention comes from CASCADEWATCH_RETENTION__<TABLE>_DAYS."""
    from pipeline.sinks.clickhouse import open_store

    settings = Settings()
    try:
        store = open_store(settings.clickhouse_url)
        try:
            if print_only:
                for name, statements in store.schema_statements(cluster):
                    print(f"-- {name}")
                    for statement in statements:
                        print(statement + ";\n")
                return
            applied = store.apply_schema(cluster=cluster)
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}")
    from pipeline.redact import redact_url

    Console().print(f"applied {len(applied)} DDL files to {redact_url(settings.clickhouse_url)}: {', '.join(applied)}",
                    soft_wrap=True)
