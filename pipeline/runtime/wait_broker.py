"""Waiting for the Kafka-API broker at startup: retried with capped exponential backoff, each failed
attempt logged with what failed and when the next one comes, so a worker started before its broker
(a reboot, a broker being upgraded) starts once it is up instead of exiting with a traceback."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from pipeline.redact import redact_url

log = logging.getLogger("cascadewatch.broker")


class BrokerUnavailable(RuntimeError):
    """The broker did not answer within the time allowed."""


def probe(bootstrap: str, timeout_s: float = 5.0) -> None:
    """A TCP connection to one of the hosts, then one metadata round trip to the cluster; raises
    OSError or KafkaError when either fails within `timeout_s`."""
    errors = []
    for hostport in bootstrap.split(","):
        host, _, port = hostport.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            break
        except OSError as exc:
            errors.append(exc)
    else:
        raise errors[-1] if errors else OSError("no bootstrap host")
    ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cascadewatch-wait", request_timeout_ms=ms,
                             bootstrap_timeout_ms=ms)
    try:
        admin.list_topics()
    finally:
        admin.close()


def wait_for_broker(bootstrap: str, *, timeout_s: float | None = None, first_delay_s: float = 0.5,
                    max_delay_s: float = 30.0, attempt: Callable[[str], None] = probe,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                    report: Callable[[str], None] = log.warning) -> int:
    """Return the number of attempts once the broker answers; BrokerUnavailable after `timeout_s`
    (None: wait as long as it takes). `report` gets one line per failed attempt and one when it is up."""
    where = ",".join(redact_url(h) for h in bootstrap.split(","))
    start = clock()
    delay, n = first_delay_s, 0
    while True:
        n += 1
        try:
            attempt(bootstrap)
        except (KafkaError, OSError) as exc:
            waited = clock() - start
            reason = str(exc) if type(exc).__name__ in str(exc) else f"{type(exc).__name__}: {exc}".rstrip(": ")
            if timeout_s is not None and waited + delay > timeout_s:
                raise BrokerUnavailable(f"Kafka broker {where} unreachable for {waited:.0f}s ({n} attempts; "
                                        f"last: {reason}); is KAFKA_BOOTSTRAP right and the broker up?") from exc
            report(f"Kafka broker {where} unreachable ({reason}); attempt {n}, next in {delay:.1f}s")
            sleep(delay)
            delay = min(delay * 2, max_delay_s)
            continue
        if n > 1:
            report(f"Kafka broker {where} is up after {n} attempts ({clock() - start:.0f}s); starting")
        return n
