"""The detection core: pure Python, no I/O and no framework imports. Fed events, it returns alerts."""

from pipeline.detect.config import DetectorConfig
from pipeline.detect.sequence import CascadeDetector

__all__ = ["CascadeDetector", "DetectorConfig"]
