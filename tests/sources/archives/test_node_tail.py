"""Following a node's fills directory: appended lines and the next hour's file are read, nothing
from before the start (unless asked), partial lines wait for their end, bad lines are counted."""

from __future__ import annotations

import asyncio
import copy

import orjson

from pipeline.sources.archives.node_tail import NodeFillsTail, hour_files

from .builders import doc_example

LIQUIDATED = "0x193bd350ec838b1e22d6f302da5343b920aa1c2b"


def block(tid: int, t_ms: int, n: int) -> bytes:
    hype = copy.deepcopy(doc_example("hyperliquid_userFills_with_liquidation_ccxt_fixture.json")[0])
    hype.update(tid=str(tid), time=str(t_ms))
    return orjson.dumps({"local_time": "2026-01-20T17:46:43.251963021", "block_time": "2026-01-20T17:46:43.101",
                         "block_number": n, "events": [[LIQUIDATED, hype]]}) + b"\n"


async def wait_for(cond, timeout=30.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


def test_follows_appends_and_the_next_hour(tmp_path):
    hour17 = tmp_path / "node_fills_by_block" / "hourly" / "20260120" / "17"
    hour17.parent.mkdir(parents=True)
    hour17.write_bytes(block(1, 1768931202995, 1))  # written before the tail started: not read
    got: list[dict] = []

    async def sink(events):
        got.extend(events)

    async def main():
        tail = NodeFillsTail(tmp_path, sink, poll_s=0.02)
        task = asyncio.create_task(tail.run())
        await wait_for(lambda: tail.stats.files == 1)
        second = block(2, 1768931203995, 2)
        with hour17.open("ab") as fh:
            fh.write(second[:40])  # half a line: nothing yet
            fh.flush()
            await asyncio.sleep(0.1)
            assert not [e for e in got if e["type"] == "liquidation"]
            fh.write(second[40:] + b"{not json\n")
        await wait_for(lambda: any(e["type"] == "liquidation" for e in got))
        hour18 = hour17.parent / "18"
        hour18.write_bytes(block(3, 1768935000000, 3))
        await wait_for(lambda: len([e for e in got if e["type"] == "liquidation"]) == 2)
        tail.stop()
        return await asyncio.wait_for(task, 30)

    stats = asyncio.run(main())
    liqs = [e["event_id"] for e in got if e["type"] == "liquidation"]
    assert liqs == ["hyperliquid:HYPE:2", "hyperliquid:HYPE:3"]
    assert stats.errors == 1 and stats.files == 2
    bars = [e for e in got if e["type"] == "trade_flow"]
    assert [b["ts"] for b in bars] == [1768931203000, 1768935000000]  # the last one flushed at stop


def test_hour_files_sort_by_hour_number(tmp_path):
    for day, hour in (("20260120", "9"), ("20260120", "10"), ("20260119", "23")):
        p = tmp_path / "hourly" / day / hour
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    assert [f"{p.parent.name}/{p.name}" for p in hour_files(tmp_path)] == ["20260119/23", "20260120/9", "20260120/10"]


def test_feed_refuses_node_fills_for_other_venues_and_missing_dirs(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["feed", "bybit", "--node-fills", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--node-fills is for hyperliquid" in result.output
    result = runner.invoke(app, ["feed", "hyperliquid", "--node-fills", str(tmp_path / "nope"), "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a directory" in result.output


def test_feed_following_node_fills_stops_on_sigterm_with_its_last_bar(tmp_path):
    """`docker stop` sends SIGTERM: the open bar still goes out, as on Ctrl-C."""
    import os
    import signal
    import threading
    import time

    from typer.testing import CliRunner

    from pipeline.cli import app

    hour17 = tmp_path / "node_fills_by_block" / "hourly" / "20260120" / "17"
    hour17.parent.mkdir(parents=True)
    hour17.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    sent = threading.Event()

    def write_then_terminate():
        deadline = time.monotonic() + 60
        n = 0
        while time.monotonic() < deadline:
            if out.exists() and b'"liquidation"' in out.read_bytes():
                os.kill(os.getpid(), signal.SIGTERM)
                sent.set()
                return
            n += 1  # lines written before the tail started are not read: write until one is
            with hour17.open("ab") as fh:
                fh.write(block(n, 1768931203995, n))
            time.sleep(0.3)

    th = threading.Thread(target=write_then_terminate, daemon=True)
    th.start()
    result = CliRunner().invoke(app, ["feed", "hyperliquid", "--node-fills", str(tmp_path), "--out", str(out),
                                      "--bar-grace-ms", "600000"])
    th.join(10)
    assert sent.is_set() and result.exit_code == 0, result.output
    types = [orjson.loads(line)["type"] for line in out.read_bytes().splitlines()]
    assert "liquidation" in types and types[-1] == "trade_flow"  # the bar flushed at the stop
