"""`labels` commands: import a user label CSV, look an address up, show statistics.

Mount with: app.add_typer(labels_app, name="labels")
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import orjson
import typer

from pipeline.labels.normalize import CHAINS
from pipeline.labels.store import DEFAULT_USER_DIR, LabelFileError, load_labels, read_label_csv

labels_app = typer.Typer(help="Exchange wallet labels: bundled list plus user CSV files.", no_args_is_help=True)

UserDir = Annotated[Path, typer.Option("--dir", help="User label directory (env CASCADEWATCH_LABEL_DIR)",
                                       envvar="CASCADEWATCH_LABEL_DIR")]


@labels_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with columns chain,address,entity[,kind,source,confidence]")],
    user_dir: UserDir = DEFAULT_USER_DIR,
    name: Annotated[str | None, typer.Option(help="File name to store it under (default: the file's name)")] = None,
) -> None:
    """Validate a user label CSV and copy it into the user label directory (merged over the bundled labels)."""
    try:
        labels = read_label_csv(file)
    except LabelFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    user_dir.mkdir(parents=True, exist_ok=True)
    dest = user_dir / (name or file.name)
    if dest.suffix != ".csv":
        dest = dest.with_suffix(".csv")
    shutil.copyfile(file, dest)
    typer.echo(f"imported {len(labels)} labels -> {dest}")


@labels_app.command()
def lookup(
    chain: Annotated[str, typer.Argument(help="bitcoin | ethereum")],
    address: Annotated[str, typer.Argument(help="The address as the chain writes it (0x... or bc1..., 1..., 3...)")],
    user_dir: UserDir = DEFAULT_USER_DIR,
) -> None:
    """Print the label of one address as JSON (exit code 1 if unlabelled)."""
    if chain not in CHAINS:
        typer.echo(f"error: unknown chain {chain!r}: one of {', '.join(CHAINS)}", err=True)
        raise typer.Exit(2)
    store = load_labels(user_dir=user_dir)
    lab = store.lookup(chain, address)
    if lab is None:
        typer.echo(orjson.dumps({"chain": chain, "address": address, "label": None}).decode())
        raise typer.Exit(1)
    typer.echo(orjson.dumps({"chain": lab.chain, "address": lab.address, "entity": lab.entity, "kind": lab.kind,
                             "source": lab.source, "confidence": lab.confidence}).decode())


@labels_app.command()
def stats(user_dir: UserDir = DEFAULT_USER_DIR) -> None:
    """Counts per chain, kind, entity and source, the data version and the user files merged."""
    try:
        store = load_labels(user_dir=user_dir)
    except LabelFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(orjson.dumps(store.stats(), option=orjson.OPT_INDENT_2).decode())
