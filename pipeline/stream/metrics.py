"""Prometheus metrics of the streaming worker."""

from prometheus_client import Counter

EVENTS = Counter("cascadewatch_events_total", "Valid events processed by the detector", ["topic"])
DEADLETTER = Counter("cascadewatch_deadletter_total", "Messages sent to the dead-letter topic", ["topic", "reason"])
LATE = Counter("cascadewatch_late_events_total", "Events older than the watermark, dropped by the detector", ["asset"])
ALERTS = Counter("cascadewatch_alerts_total", "Alerts published", ["asset", "stage"])
STORED = Counter("cascadewatch_rows_stored_total", "Rows written to ClickHouse", ["table"])
