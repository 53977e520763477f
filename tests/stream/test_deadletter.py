"""Dead-letter records: the original bytes kept up to their bound, and a record never larger than the
dead-letter topic is made to take."""

from __future__ import annotations

import orjson
import pytest

from pipeline.config import Settings
from pipeline.contracts.models import ContractError
from pipeline.runtime.topics import topic_configs
from pipeline.stream.deadletter import dead_letter, original_bytes, record_bytes


@pytest.mark.parametrize("keep", [1024, 4 * 1024 * 1024])
def test_the_largest_dead_letter_fits_the_size_the_topic_is_made_for(keep):
    # The worst case: every kept byte, the longest key, an error text whose every character JSON escapes as \\u00XX.
    worst = dead_letter(ContractError("malformed_json", "\x01" * 10_000), topic="t" * 249, partition=2**31,
                        offset=2**62, key=b"\xff" * 10_000, value=b"\x00" * (keep + 10), batch_index=2**62, keep=keep)
    size = len(orjson.dumps(worst))
    assert size <= record_bytes(keep) and record_bytes(keep) - size < 32 * 1024  # enough, not far more
    assert original_bytes(worst) == b"\x00" * keep and worst["original_size"] == keep + 10


def test_the_dead_letter_topic_is_created_to_take_the_largest_record():
    s = Settings()
    configs = topic_configs(s)
    assert configs == {s.topics.deadletter: {"max.message.bytes": str(record_bytes(s.stream.deadletter_keep_bytes))}}
    # A refused message of the largest size the worker reads whole (twice its message bound: its fetch size) is kept whole.
    assert s.stream.deadletter_keep_bytes >= 2 * s.stream.max_message_bytes
