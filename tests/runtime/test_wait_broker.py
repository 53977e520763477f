"""Waiting for the broker at startup, with an injected clock: capped exponential backoff, one clear
line per attempt, a bounded wait that ends in an error naming the broker and the last failure."""

from __future__ import annotations

import pytest

from pipeline.runtime.wait_broker import BrokerUnavailable, wait_for_broker


class Down:
    """A broker that refuses `n` connections, then answers; time passes only through `sleep`."""

    def __init__(self, n: int):
        self.n, self.now, self.sleeps = n, 0.0, []

    def attempt(self, bootstrap: str) -> None:
        if self.n:
            self.n -= 1
            raise ConnectionRefusedError(111, "Connection refused")

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_retries_with_capped_backoff_until_the_broker_is_up():
    down, lines = Down(8), []
    n = wait_for_broker("127.0.0.1:9", attempt=down.attempt, sleep=down.sleep, clock=lambda: down.now,
                        max_delay_s=8.0, report=lines.append)
    assert n == 9
    assert down.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert lines[0] == ("Kafka broker 127.0.0.1:9 unreachable (ConnectionRefusedError: [Errno 111] Connection "
                        "refused); attempt 1, next in 0.5s")
    assert lines[-1] == "Kafka broker 127.0.0.1:9 is up after 9 attempts (40s); starting"


def test_a_broker_that_answers_at_once_is_not_reported():
    lines = []
    assert wait_for_broker("h:9092", attempt=lambda b: None, report=lines.append) == 1
    assert lines == []


def test_a_bounded_wait_ends_with_a_clear_error():
    down = Down(100)
    with pytest.raises(BrokerUnavailable) as exc:
        wait_for_broker("127.0.0.1:9", timeout_s=10, attempt=down.attempt, sleep=down.sleep, clock=lambda: down.now,
                        report=lambda line: None)
    assert sum(down.sleeps) <= 10
    assert "Kafka broker 127.0.0.1:9 unreachable for 8s (5 attempts" in str(exc.value)
    assert "KAFKA_BOOTSTRAP" in str(exc.value)


def test_credentials_in_the_bootstrap_are_not_shown():
    down, lines = Down(1), []
    wait_for_broker("kafka://user:s3cret@broker:9092", attempt=down.attempt, sleep=down.sleep,
                    clock=lambda: down.now, report=lines.append)
    assert lines and not any("s3cret" in line for line in lines)
