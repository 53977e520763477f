"""Putting events on Kafka: topics and keys from the type registry, batch envelopes, the producer."""
