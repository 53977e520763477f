"""Open a data file as byte lines whatever its packing: plain, gzip (.gz) or a one-member zip (the
Binance archives). The packing is told by the file's first bytes, not its name."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"


class ArchiveError(ValueError):
    """A file that cannot be read as any supported format; the message says why."""


@contextmanager
def open_binary(path: str | Path) -> Iterator[BinaryIO]:
    path = Path(path)
    with path.open("rb") as raw:
        head = raw.read(4)
    if head.startswith(_GZIP):
        with gzip.open(path, "rb") as fh:
            yield fh
    elif head == _ZIP:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise ArchiveError(f"{path.name}: a zip archive must hold exactly one file, it holds {len(members)}")
            with zf.open(members[0]) as fh:
                yield io.BufferedReader(fh, 1 << 20)  # type: ignore[arg-type]
    else:
        with path.open("rb", buffering=1 << 20) as fh:
            yield fh


def first_lines(path: str | Path, n: int = 2) -> list[bytes]:
    """The first n non-empty lines (for format detection)."""
    out: list[bytes] = []
    try:
        with open_binary(path) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    out.append(line)
                    if len(out) == n:
                        break
    except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{Path(path).name}: cannot read: {exc}") from None
    return out
