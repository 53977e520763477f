"""`watch` commands: run a chain watcher over a block range (or follow the head) and write WhaleTransfer JSON lines.

Mount with: app.add_typer(watch_app, name="watch")
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from pipeline.labels import LabelFileError, load_labels
from pipeline.labels.store import DEFAULT_USER_DIR
from pipeline.redact import redact_url, scrub, scrub_logs

watch_app = typer.Typer(help="Watch chains for whale transfers to and from exchanges.", no_args_is_help=True)

LabelDir = Annotated[Path, typer.Option("--label-dir", envvar="CASCADEWATCH_LABEL_DIR",
                                        help="User label CSVs merged over the bundled labels")]
Out = Annotated[Path | None, typer.Option("--out", help="Write JSON lines here (default stdout)")]
Labels = Annotated[list[Path] | None, typer.Option("--labels", help="Extra label CSV (repeatable)")]


class _Writer:
    """JSON lines to a file or stdout; also to Kafka when KAFKA_BOOTSTRAP is set and --kafka is given."""

    def __init__(self, out: Path | None, kafka: bool):
        self.fh = out.open("ab") if out else sys.stdout.buffer
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP") if kafka else None
        self.count = 0

    def __call__(self, events) -> None:
        dicts = [e.model_dump(mode="json") for e in events]
        for d in dicts:
            self.fh.write(orjson.dumps(d) + b"\n")
        self.fh.flush()
        if self.bootstrap and dicts:
            from pipeline.config import Settings
            from pipeline.wire.producer import publish

            publish(dicts, self.bootstrap, Settings())
        self.count += len(dicts)

    def close(self) -> None:
        if self.fh is not sys.stdout.buffer:
            self.fh.close()


def _labels(label_dir: Path, extra: list[Path] | None):
    try:
        return load_labels(extra or (), user_dir=label_dir)
    except LabelFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _price(usd_per_unit: dict[str, float | None]):
    from pipeline.sources.chain.common import fixed_prices

    return fixed_prices({k: v for k, v in usd_per_unit.items() if v})


@watch_app.command()
def ethereum(
    rpc: Annotated[str, typer.Option("--rpc", envvar="ETH_RPC_URL", help="HTTP JSON-RPC URL of an Ethereum node")],
    ws: Annotated[str | None, typer.Option("--ws", envvar="ETH_WS_URL",
                                           help="WebSocket URL (ws:// or wss://) for newHeads when following; "
                                                "HTTP polling is the fallback")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Follow the head (the default without --to-block)")] = False,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop following after this many seconds")] = None,
    from_block: Annotated[int | None, typer.Option("--from-block", help="First block to read (default: the head, or "
                                                   "where the --checkpoint left off)")] = None,
    to_block: Annotated[int | None, typer.Option("--to-block", help="Stop after this block (default: follow)")] = None,
    out: Out = None,
    min_usd: Annotated[float, typer.Option("--min-usd")] = 1_000_000.0,
    eth_usd: Annotated[float, typer.Option("--eth-usd", help="ETH price used for usd_value")] = 4000.0,
    btc_usd: Annotated[float, typer.Option("--btc-usd",
                                           help="BTC price used for WBTC's and cbBTC's usd_value")] = 110_000.0,
    token: Annotated[list[str] | None, typer.Option(
        "--token", help="ADDRESS:SYMBOL:DECIMALS[:USD[:ASSET]] (repeatable): ASSET is the coin a wrapped token is "
        "published as (WBTC, CBBTC and WETH are BTC and ETH unless told); default: mainnet USDT, USDC, WBTC, "
        "cbBTC, WETH")] = None,
    finality: Annotated[int, typer.Option("--finality", help="Blocks deep before the final copy")] = 12,
    internal: Annotated[bool, typer.Option(
        "--internal", help="Also ether sent by contracts (multisigs, smart wallets) inside their calls, from the "
        "node's call traces: one debug_traceBlockByHash (callTracer) per block, which Geth, Erigon, Reth, Nethermind "
        "and Anvil serve (hosted providers mostly on paid plans)")] = False,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="Resume file")] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between HTTP polls when following "
                                            "without a WebSocket")] = 4.0,
    kafka: Annotated[bool, typer.Option("--kafka", help="Also publish to KAFKA_BOOTSTRAP")] = False,
    label_dir: LabelDir = DEFAULT_USER_DIR,
    labels: Labels = None,
) -> None:
    """Native ETH and ERC-20 transfers at or above --min-usd, classified against exchange labels."""
    from pipeline.sources.chain.ethereum import MAINNET_TOKENS, EthereumWatcher, http_web3

    if to_block is not None and (follow or duration is not None):  # --ws (maybe from env) is unused with a range
        raise typer.BadParameter("--to-block reads a fixed range: drop it to follow (--follow, --duration)")
    if ws is not None and not ws.startswith(("ws://", "wss://")):
        raise typer.BadParameter(f"--ws {redact_url(ws)!r}: expected a ws:// or wss:// URL")

    prices: dict[str, float | None] = {"ETH": eth_usd, "WETH": eth_usd, "BTC": btc_usd, "WBTC": btc_usd,
                                       "CBBTC": btc_usd, "USDT": 1.0, "USDC": 1.0}
    tokens: dict[str, tuple] = dict(MAINNET_TOKENS) if token is None else {}
    for spec in token or []:
        parts = spec.split(":")
        try:
            if len(parts) not in (3, 4, 5) or not parts[2].isdigit():
                raise ValueError
            price = float(parts[3]) if len(parts) >= 4 and parts[3] else None
            asset = parts[4].upper() if len(parts) == 5 else None
            if asset is not None and not re.fullmatch(r"[A-Z0-9]{2,12}", asset):
                raise ValueError
        except ValueError:
            raise typer.BadParameter(f"--token {spec!r}: expected ADDRESS:SYMBOL:DECIMALS[:USD[:ASSET]] (DECIMALS an "
                                     "integer, USD a number, ASSET a ticker such as BTC)") from None
        tokens[parts[0].lower()] = (parts[1].upper(), int(parts[2]), *([asset] if asset else []))
        if price is not None:
            prices[parts[1].upper()] = price
    # A block's call traces may take the node up to the tracer's own timeout (internal.TRACE_TIMEOUT, 60 s).
    w = EthereumWatcher(http_web3(rpc, timeout=90.0 if internal else 30.0), _labels(label_dir, labels),
                        tokens=tokens, min_usd=min_usd,
                        price=_price(prices), finality=finality, checkpoint=checkpoint, start_block=from_block,
                        internal=internal)
    writer = _Writer(out, kafka)
    scrub_logs([rpc, ws or ""])  # web3 logs the URLs it connects to; provider keys live in them
    try:
        if to_block is None:  # follow the head: newHeads over --ws when given, HTTP polling otherwise / as fallback
            import asyncio

            asyncio.run(w.follow(ws, sink=writer, poll_interval=interval, duration=duration))
        else:
            w.run(to_block=to_block, interval=interval, sink=writer)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - node errors as one line, without the URLs' keys or passwords
        typer.echo(f"error: {scrub(f'{type(exc).__name__}: {exc}', [rpc, ws or ''])}", err=True)
        raise typer.Exit(1) from None
    finally:
        writer.close()
    typer.echo(f"{writer.count} events", err=True)


@watch_app.command()
def bitcoin(
    rpc: Annotated[str | None, typer.Option("--rpc", help="Bitcoin Core JSON-RPC URL, http://user:pass@host:8332")] = None,
    esplora: Annotated[str | None, typer.Option("--esplora", help="Esplora REST base URL")] = None,
    from_height: Annotated[int | None, typer.Option("--from-height", help="First block height to read (default: "
                                                    "the last one: a single block)")] = None,
    to_height: Annotated[int | None, typer.Option("--to-height", help="Last block height to read (default: the "
                                                  "tip)")] = None,
    out: Out = None,
    min_usd: Annotated[float, typer.Option("--min-usd", help="Smallest output reported, in USD at --btc-usd "
                                            "(the same threshold as `watch ethereum`)")] = 1_000_000.0,
    min_btc: Annotated[float | None, typer.Option("--min-btc", help="Smallest output reported, in BTC, instead of "
                                                   "--min-usd")] = None,
    btc_usd: Annotated[float, typer.Option("--btc-usd", help="BTC price used for usd_value")] = 110_000.0,
    kafka: Annotated[bool, typer.Option("--kafka", help="Also publish to KAFKA_BOOTSTRAP")] = False,
    label_dir: LabelDir = DEFAULT_USER_DIR,
    labels: Labels = None,
) -> None:
    """Outputs worth at least --min-usd (or --min-btc), classified against exchange labels (default range: the
    tip block). Transient RPC failures are retried; a node without getblock verbosity 3 is read with verbosity 2,
    with a warning (input addresses then unknown)."""
    from pipeline.sources.chain.bitcoin import BitcoinCoreRPC, BitcoinWatcher, ChainSourceError, EsploraClient

    if (rpc is None) == (esplora is None):
        raise typer.BadParameter("give exactly one of --rpc or --esplora")
    backend = BitcoinCoreRPC(rpc) if rpc else EsploraClient(esplora)
    w = BitcoinWatcher(backend, _labels(label_dir, labels), min_usd=min_usd, min_btc=min_btc,
                       price=_price({"BTC": btc_usd}))
    writer = _Writer(out, kafka)
    try:
        batch = []
        for ev in w.scan(from_height, to_height):
            batch.append(ev)
            if len(batch) >= 100:
                writer(batch)
                batch = []
        writer(batch)
    except ChainSourceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        writer.close()
        backend.close()
    typer.echo(f"{writer.count} events", err=True)
