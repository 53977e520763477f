"""Historical data files -> normalized events: the historical-data providers' raw and CSV formats
(tardis.dev) and the venues' public archives (Binance data.binance.vision). See docs/venues.md,
"Archive formats"."""

from .detect import FORMATS, ArchiveSource, detect
from .read import normalize_file

__all__ = ["FORMATS", "ArchiveSource", "detect", "normalize_file"]
