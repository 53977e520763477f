"""Shared by the report tests: headless Chromium (Debian's, installed by scripts/test) and a check
that an image is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat


def not_blank(path: Path) -> bool:
    """More than one colour in quantity: the spread of grey levels is far from a flat page."""
    stat = ImageStat.Stat(Image.open(path).convert("L"))
    return stat.stddev[0] > 20


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium not found: run scripts/test, which installs Debian's chromium", pytrace=False)
    return path


def run_chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000", *args],
                          capture_output=True, text=True, timeout=240)
