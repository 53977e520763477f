"""Streaming: the Faust app, its topics and the agents that glue the detection core and sinks to Kafka."""
