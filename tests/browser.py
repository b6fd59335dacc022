"""Headless Chromium for the page tests: Debian's `chromium` driven by selenium through Debian's
`chromedriver` (never a downloaded browser). Screenshots are kept as test artifacts."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1800) -> Iterator:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/bootstrap --system)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
              f"--window-size={width},{height}", "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:  # noqa: ANN001
    """Console messages of level SEVERE since the last call (JS errors, failed loads, CSP refusals)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver, path: Path) -> Path:  # noqa: ANN001
    """Save a full-page PNG as a test artifact (also copied to $SIPWARDEN_ARTIFACTS if set); print its path."""
    h = driver.execute_script("return document.documentElement.scrollHeight")
    w = driver.execute_script("return document.documentElement.scrollWidth")
    driver.set_window_size(max(w, 1200), min(max(h, 600), 6000))
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    if os.environ.get("SIPWARDEN_ARTIFACTS"):
        out = Path(os.environ["SIPWARDEN_ARTIFACTS"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / path.name)
    return path
