"""A Faust agent that does nothing, for bench/throughput.py: the framework's own ceiling.

Reads the given topics as raw bytes (`async for event in stream.events(): pass`) in its own
consumer group, with the worker's consumer settings, until it is stopped.

    python bench/_faust_noop.py BOOTSTRAP GROUP TOPIC [TOPIC ...]
"""

from __future__ import annotations

import sys

import faust


def main() -> None:
    bootstrap, group, *topics = sys.argv[1:]
    sys.argv[1:] = []
    app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    broker_commit_interval=1.0, broker_rebalance_timeout=10.0, broker_session_timeout=10.0,
                    broker_heartbeat_interval=2.5, consumer_max_fetch_size=2 * 1024 * 1024, topic_partitions=4)
    source = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="noop")
    async def noop(stream):
        async for _ in stream.events():
            pass

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
