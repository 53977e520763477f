"""Checks of the files a command will write, made before it starts its work (a replay of an hour must not
end in a traceback because its output directory is missing)."""

from __future__ import annotations

from pathlib import Path

import typer


def output_file(value: Path | None) -> Path | None:
    """A typer callback for an option naming a file to write: not a directory, in a directory that exists."""
    if value is None:
        return value
    if str(value) == "-":
        raise typer.BadParameter("'-' is no file name here: name a file (where stdout is possible, leave the option out)")
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a directory: name a file")
    if not value.parent.is_dir():
        raise typer.BadParameter(f"{value.parent} does not exist: create it first")
    return value
