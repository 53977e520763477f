"""Fixtures for the sink tests: a chDB store on a fresh database per test, contract-shaped sample
events, and a real clickhouse-server (Debian's 18.16) started as a child process."""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from pipeline.contracts import models
from pipeline.sinks.clickhouse import open_store

SERVER_CONFIG = Path("/etc/clickhouse-server/config.xml")
INSTALL_HINT = "run scripts/test, which installs clickhouse-server"


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory) -> Path:
    # chDB opens one data path per process, so every test shares this one, each in its own database.
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def fresh_store(chdb_path, request):
    """A chDB store on a database of its own, without the schema applied."""
    database = f"t_{re.sub(r'[^A-Za-z0-9]', '_', request.node.name)[:40]}_{uuid.uuid4().hex[:6]}"
    store = open_store(f"chdb://{chdb_path}?database={database}")
    yield store
    store.query(f"DROP DATABASE IF EXISTS {database}")
    store.close()


@pytest.fixture
def store(fresh_store):
    fresh_store.apply_schema()
    return fresh_store


class Events:
    """Valid contract events, built with the pydantic models and dumped as the pipeline does."""

    T0 = 1_755_226_800_000  # 2025-08-15 03:00:00 UTC, in ms

    @staticmethod
    def _dump(model) -> dict:
        return model.model_dump(mode="json")

    def liquidation(self, event_id="liq-1", *, ts=T0, venue="binance-usdm", asset="BTC", side="long",
                    price=100_000.0, quantity=0.5, completeness="full", **extra) -> dict:
        return self._dump(models.Liquidation(
            event_id=event_id, venue=venue, symbol=f"{asset}USDT", asset=asset, side=side, price=price,
            quantity=quantity, notional_usd=price * quantity, ts=ts, received_ts=ts + 250,
            completeness=completeness, **extra,
        ))

    def whale_transfer(self, event_id="bitcoin:abc:0", *, ts=T0, **extra) -> dict:
        return self._dump(models.WhaleTransfer(
            event_id=event_id, chain="bitcoin", asset="BTC", amount=2400.0, usd_value=2.7e8,
            from_address="bc1qfrom", to_address="bc1qto", from_entity=None, to_entity="binance",
            direction="exchange_inflow", tx_hash="abc", block_number=None, block_time=ts, confirmations=1,
            observed_ts=ts + 5_000, **extra,
        ))

    def trade_flow(self, *, ts=T0, venue="bybit", asset="BTC", open=100.0, high=110.0, low=90.0, close=105.0,
                   buy=1_000.0, sell=2_000.0, trades=10, interval_ms=10_000) -> dict:
        return self._dump(models.TradeFlow(
            venue=venue, symbol=f"{asset}USDT", asset=asset, ts=ts, interval_ms=interval_ms, buy_volume_usd=buy,
            sell_volume_usd=sell, open=open, high=high, low=low, close=close, trade_count=trades,
        ))

    def etf_flow(self, fund="IBIT", date="2025-08-14", *, net=-5.4e7) -> dict:
        return self._dump(models.EtfFlow(
            event_id=f"etf:{fund}:{date}", date=date, fund=fund, asset="BTC", net_flow_usd=net,
            published_ts=self.T0, source="test",
        ))

    def alert(self, alert_id="BTC:bitcoin:abc:0", stage="cascade", *, ts=T0) -> dict:
        return self._dump(models.Alert(
            alert_id=alert_id, asset="BTC", stage=stage, reached=stage, ts=ts, severity="critical",
            deposit=models.DepositEvidence(event_id="bitcoin:abc:0", usd_value=2.7e8, to_entity="binance",
                                           amount=2400.0, ts=ts - 60_000),
            sell={"venue": "binance-usdm", "sell_usd": 1.5e8, "nested": {"list": [1, 2.5, None]}},
            cascade={"liquidations_usd": 5.5e8, "long_share": 0.91},
            etf_context=None,
        ))

    def deadletter(self, *, partition=0, offset=7, value=b"{not json") -> dict:
        return self._dump(models.DeadLetter(
            reason="malformed_json", error="unexpected character", source_topic="exchange.liquidations",
            partition=partition, offset=offset, key_b64=None, original_b64=base64.b64encode(value).decode(),
            original_size=len(value), received_ts=self.T0,
        ))

    def leverage(self, *, ts=T0, venue="binance-usdm", symbol="BTCUSDT", oi=None, oi_usd=None, funding=None,
                 mark=None, source="markPrice") -> dict:
        return self._dump(models.Leverage(
            event_id=f"{venue}:{symbol}:{source}:{ts}", venue=venue, symbol=symbol, asset="BTC", ts=ts,
            open_interest=oi, open_interest_usd=oi_usd, funding_rate=funding,
            funding_interval_ms=None if funding is None else 28_800_000,
            next_funding_ts=None if funding is None else ts + 3_600_000, mark_price=mark, source=source,
            received_ts=ts + 40,
        ))

    def one_of_each(self) -> list[dict]:
        return [self.whale_transfer(), self.liquidation(), self.trade_flow(), self.etf_flow(), self.alert(),
                self.deadletter()]


@pytest.fixture
def ev() -> Events:
    return Events()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports_in_config() -> list[str]:
    """Port settings the packaged config enables, so each can be moved off its default."""
    text = re.sub(r"<!--.*?-->", "", SERVER_CONFIG.read_text(), flags=re.S)
    optional = ("interserver_http_port", "https_port", "tcp_port_secure", "mysql_port", "postgresql_port", "grpc_port")
    return ["tcp_port", "http_port", *(n for n in optional if f"<{n}>" in text)]


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """A real clickhouse-server on free loopback ports with its own data dir; yields (host, tcp_port)."""
    binary = shutil.which("clickhouse-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin")
    if binary is None or not SERVER_CONFIG.exists():
        pytest.fail(f"clickhouse-server (and {SERVER_CONFIG}) not found: {INSTALL_HINT}", pytrace=False)
    from clickhouse_driver import Client

    data = tmp_path_factory.mktemp("clickhouse-server")
    ports = {name: _free_port() for name in _ports_in_config()}
    args = [binary, f"--config-file={SERVER_CONFIG}", "--", f"--path={data}/", f"--tmp_path={data}/tmp/",
            f"--user_files_path={data}/user_files/", f"--format_schema_path={data}/format_schemas/",
            "--listen_host=127.0.0.1", f"--logger.log={data}/server.log", f"--logger.errorlog={data}/server.err.log",
            *(f"--{name}={port}" for name, port in ports.items())]
    with open(data / "stdout.log", "wb") as out:
        proc = subprocess.Popen(args, cwd=data, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log = (data / "server.err.log").read_text(errors="replace")[-2000:] if (data / "server.err.log").exists() else ""
                pytest.fail(f"clickhouse-server exited with {proc.returncode}:\n{log}", pytrace=False)
            try:
                Client("127.0.0.1", port=ports["tcp_port"], connect_timeout=1).execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"clickhouse-server did not answer on port {ports['tcp_port']} within 60 s", pytrace=False)
                time.sleep(0.2)
        yield "127.0.0.1", ports["tcp_port"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
