"""The detection core: pure Python, no I/O and no framework imports. Fed events, it returns alerts.

Read top to bottom: clock (event time and watermark) -> buffers and windows -> floors (learned
per asset) -> whale (deposit, selling) -> cascades (the cascade test) -> contagion -> alerts ->
detector (the loop that ties them together).
"""

from pipeline.detect.alerts import alert_id_for
from pipeline.detect.config import DetectorConfig
from pipeline.detect.detector import CascadeDetector, Output

__all__ = ["CascadeDetector", "DetectorConfig", "Output", "alert_id_for"]
