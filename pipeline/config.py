"""Settings for every part of cascadewatch, from the environment (CASCADEWATCH_*) with sane defaults.

KAFKA_BOOTSTRAP and CLICKHOUSE_URL are also read without the prefix, so that pointing the
project at real services is one variable each. With KAFKA_BOOTSTRAP unset, commands that need
a broker start the embedded Tansu broker; CLICKHOUSE_URL defaults to embedded chDB under ./var.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.detect.config import DetectorConfig


class TopicNames(BaseModel):
    whale_transfers: str = "whale.transfers"
    liquidations: str = "exchange.liquidations"
    trade_flow: str = "exchange.trade_flow"
    etf_flows: str = "etf.flows"
    alerts: str = "alerts.cascade"
    deadletter: str = "deadletter"
    late: str = "events.late"
    feed_health: str = "exchange.feed_health"
    links: str = "detect.links"  # contagion links, keyed by the target asset (read by the detector)
    trades: str = "exchange.trades"  # raw normalized trades, only from `cascadewatch feed --raw-trades`
    leverage: str = "exchange.leverage"  # open interest and funding, keyed by asset (context for the detector)

    def inputs(self) -> list[str]:
        return [self.whale_transfers, self.liquidations, self.trade_flow, self.etf_flows, self.leverage]

    def all(self) -> list[str]:
        return [*self.inputs(), self.alerts, self.deadletter, self.late, self.feed_health, self.links, self.trades]


class SinkConfig(BaseModel):
    batch_size: int = Field(20_000, ge=1, description="Rows per ClickHouse insert at most (each insert also recomputes the per-minute rollups it touched: fewer, larger inserts cost less per row)")
    flush_interval_s: float = Field(1.0, gt=0, description="Longest a row waits before its batch is written")
    rollup_interval_s: float = Field(2.0, ge=0, description="Per-minute rollups of the stored rows are recomputed "
                                     "at most this often (0: after every insert); inputs are acknowledged after it")
    retry_max_delay_s: float = Field(30.0, gt=0, description="Longest wait between retries of a failed insert")
    max_backlog: int = Field(200_000, ge=1, description="Events waiting to be stored (e.g. in a store outage) "
                             "beyond which the worker stops reading, detection included")


class BatchConfig(BaseModel):
    """How producers pack events into Kafka messages (schemas/batch.schema.json)."""

    enabled: bool = Field(True, description="Send batch envelopes; false: one event per message")
    max_events: int = Field(200, ge=1, description="Events per envelope at most")
    max_bytes: int = Field(128 * 1024, ge=1024, description="Bytes per envelope at most (a larger event goes alone)")
    linger_s: float = Field(0.25, ge=0, description="Longest an event waits for others before its envelope is sent")


class StreamConfig(BaseModel):
    """How the worker takes messages off its topics."""

    take_messages: int = Field(64, ge=1, description="Messages handled (and committed) together at most")
    take_within_s: float = Field(0.1, gt=0, description="Longest the worker waits to fill a take")
    max_message_bytes: int = Field(1024 * 1024, ge=1024, description="Larger messages (envelopes) are dead-lettered")
    deadletter_keep_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, le=5 * 1024 * 1024, description="A refused message's bytes are kept whole in "
        "its dead letter up to "
        "this size; of a larger one its first this many (the record's original_size is still the whole size). The "
        "dead-letter topic is created to hold such records (its max.message.bytes, pipeline/runtime/topics.py)")
    align_backlog: bool = Field(True, description="Read the backlog found at an assignment in event-time order: "
                                "a message of a partition that ran ahead waits for the others (a catch-up then "
                                "gives replay's alerts; a live worker is never held)")
    align_max_wait_s: float = Field(10.0, gt=0, description="A backlogged partition that brings nothing this long "
                                    "stops holding the others back")
    align_max_held: int = Field(50_000, ge=1, description="Messages held back at most; past that the earliest go on")
    record_takes: str | None = Field(None, description="Append every take (the messages in the order the worker "
                                     "handled them, and its clock) to this file, to replay offline with "
                                     "bench/read_order.py --takes FILE")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASCADEWATCH_", env_nested_delimiter="__", extra="ignore")

    kafka_bootstrap: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "CASCADEWATCH_KAFKA_BOOTSTRAP"),
        description="host:port[,host:port]; unset = start the embedded Tansu broker",
    )
    clickhouse_url: str = Field(
        "chdb://./var/chdb",
        validation_alias=AliasChoices("CLICKHOUSE_URL", "CASCADEWATCH_CLICKHOUSE_URL"),
        description="chdb://PATH (embedded) or clickhouse://user:pass@host:9000/db (server, native protocol)",
    )
    app_id: str = "cascadewatch"
    partitions: int = Field(4, ge=1, description="Partition count of every topic (they must be co-partitioned)")
    replication_factor: int = Field(1, ge=1)
    max_event_bytes: int = Field(64 * 1024, ge=256, description="Larger messages go to the dead-letter topic")
    single_record_batches: bool = Field(
        False, description="Produce one record per batch. Needed on the embedded Tansu 0.6 broker, whose "
        "latest-offset answers fall short by up to one batch and which can stall a consumer resuming mid-batch; "
        "`demo` turns it on for the embedded broker. Leave off on a real Kafka cluster.")
    rebalance_timeout_s: float = Field(
        10.0, gt=0, description="Consumer-group rebalance timeout; a fresh worker waits this long on its first join")
    broker_wait_s: float | None = Field(
        None, ge=0, description="How long the worker waits for the broker at startup, retrying with backoff "
        "(unset: as long as it takes)")
    metrics_addr: str = Field("127.0.0.1", description="Address the worker's Prometheus endpoint binds to")
    data_dir: str = Field("./var", description="Worker state (Faust tables) lives here")
    topics: TopicNames = TopicNames()
    sink: SinkConfig = SinkConfig()
    batch: BatchConfig = BatchConfig()
    stream: StreamConfig = StreamConfig()
    detector: DetectorConfig = DetectorConfig()
