"""Bundled scenario files in the interchange format (one JSON event per line)."""

from pathlib import Path

_DIR = Path(__file__).resolve().parent


def bundled(name: str = "aug2025") -> Path:
    path = _DIR / f"{name}.jsonl"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in _DIR.glob("*.jsonl")))
        raise FileNotFoundError(f"no bundled scenario {name!r}; bundled: {known}")
    return path
