"""Store on embedded chDB: one shared session per process, inserts from pandas via Python(df)."""

from __future__ import annotations

import atexit
import pathlib
import threading
from operator import itemgetter

import numpy as np
import pandas as pd

from pipeline.sinks.base import BaseStore, StoreError


class _Shared:
    """A chDB session and the Stores using it. chDB can open only one data path per process."""

    def __init__(self, path: str):
        from chdb import session

        pathlib.Path(path).mkdir(parents=True, exist_ok=True)
        self.path = path
        self.session = session.Session(path)
        self.users = 0
        self.lock = threading.Lock()


_SESSIONS: dict[str, _Shared] = {}
_SESSIONS_LOCK = threading.Lock()


def _acquire(path: str) -> _Shared:
    resolved = str(pathlib.Path(path).expanduser().resolve())
    with _SESSIONS_LOCK:
        shared = _SESSIONS.get(resolved)
        if shared is None:
            if _SESSIONS:
                (other,) = _SESSIONS
                raise StoreError(
                    f"chDB can open one data path per process: {other} is open, {resolved} was requested "
                    "(close every Store on the first path, or use the same path with ?database=NAME)"
                )
            try:
                shared = _SESSIONS[resolved] = _Shared(resolved)
            except Exception as exc:
                raise StoreError(f"cannot open chDB at {resolved}: {exc}") from exc
        shared.users += 1
        return shared


def _release(shared: _Shared) -> None:
    with _SESSIONS_LOCK:
        shared.users -= 1
        if shared.users == 0:
            _SESSIONS.pop(shared.path, None)
            shared.session.close()


@atexit.register
def _close_all() -> None:
    with _SESSIONS_LOCK:
        for shared in _SESSIONS.values():
            shared.session.cleanup()
        _SESSIONS.clear()


def _frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    # Columns taken in one pass (itemgetter and zip run in C), not one list comprehension per column.
    get = itemgetter(*cols)
    columns = zip(*map(get, rows)) if len(cols) > 1 else ([get(row) for row in rows],)
    data = {}
    for col, values in zip(cols, columns):
        # A None among ints would make pandas use float NaN, which ClickHouse refuses for Int columns.
        data[col] = pd.Series(values, dtype=object) if None in values else pd.Series(values)
    return pd.DataFrame(data)


def _python_values(series: pd.Series) -> list:
    # DataFrame output, not Arrow: chDB's Arrow output turns DateTime into plain uint32 seconds.
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in series]
    values = series.astype(object).where(series.notna(), None).tolist()
    return [v.tolist() if isinstance(v, np.ndarray) else v for v in values]


class ChdbStore(BaseStore):
    def __init__(self, url: str, path: str, database: str):
        self.url = url
        self.database = database
        self._shared = _acquire(path)
        self._closed = False

    @property
    def _session(self):
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        return self._shared.session

    def _execute(self, statement: str) -> None:
        try:
            result = self._session.query(statement)
        except Exception as exc:
            raise StoreError(f"chDB: {exc}\nin: {statement[:300]}") from exc
        if result.has_error():
            raise StoreError(f"chDB: {result.error_message()}\nin: {statement[:300]}")

    def insert_rows(self, table: str, rows: list[dict], *, dedup_token: str | None = None,
                    deduplicate: bool = True) -> int:
        if not rows:
            return 0
        target = self._qualified(table)
        cols = list(rows[0])
        try:
            batch_df = _frame(rows, cols)  # noqa: F841 - read by chDB's Python() table function below
        except KeyError as exc:
            raise StoreError(f"insert into {target}: a row lacks column {exc} (columns are the keys of rows[0])") from None
        names = ", ".join(f"`{c}`" for c in cols)
        settings = "async_insert = 0" if deduplicate else "async_insert = 0, insert_deduplicate = 0"
        if dedup_token is not None:
            settings += ", insert_deduplication_token = '" + dedup_token.replace("\\", "\\\\").replace("'", "\\'") + "'"
        sql = f"INSERT INTO {target} ({names}) SELECT {names} FROM Python(batch_df) SETTINGS {settings}"
        try:
            result = self._session.query(sql)
        except Exception as exc:
            raise StoreError(f"insert of {len(rows)} rows into {target} failed: {exc}") from exc
        if result.has_error():
            raise StoreError(f"insert of {len(rows)} rows into {target} failed: {result.error_message()}")
        written = result.rows_written()
        if written != len(rows):
            raise StoreError(f"insert into {target} wrote {written} rows of {len(rows)}")
        return written

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        sql = sql.replace("{db}", self.database)
        shared = self._shared
        with shared.lock:
            session = self._session
            try:
                self._use(session)
                frame = session.query(sql, "DataFrame")
            except Exception as exc:
                raise StoreError(f"chDB: {exc}") from exc
        columns = [_python_values(frame.iloc[:, i]) for i in range(frame.shape[1])]
        return [str(c) for c in frame.columns], list(zip(*columns))

    def _use(self, session) -> None:
        """Make unqualified names resolve in this store's database (the session is shared), or in
        `default` until that database exists."""
        try:
            session.query(f"USE {self.database}")
        except Exception:
            session.query("USE default")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self._shared)
