"""Real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by
Selenium against pytest-django's live server.

Without Chromium these tests FAIL in CI (CI=true: .ci/run installs it) and are
skipped with a visible reason elsewhere. Nothing is downloaded: the browser and
its driver are the system's.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

SCREENSHOTS = Path(settings.BASE_DIR) / "build" / "screenshots"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
]


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_paths() -> tuple[str, str]:
    browser = _find("chromium", "chromium-browser")
    driver = _find("chromedriver")
    if browser and driver:
        return browser, driver
    reason = (
        "headless Chromium is not installed (apt-get install chromium chromium-driver; "
        ".ci/run does this)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser(chromium_paths, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    # A fresh profile per test: no state leaks between logins.
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def save_full_page(driver, name: str) -> Path:
    """Screenshot of the whole page (the window is stretched to the page's height)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height + 40, 800), 6000))
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


@pytest.fixture
def demo(db):
    """The `make run` demo data, with known passwords for the two staff users."""
    from io import StringIO

    from arcadia_cloud.models import User

    call_command("load_demo", stdout=StringIO())
    passwords = {}
    for email in ("billing@arcadia.example", "support@arcadia.example"):
        user = User.objects.get(email=email)
        passwords[email] = secrets.token_urlsafe(16)
        user.set_password(passwords[email])
        user.save(update_fields=["password"])
    return passwords


def wait_for(driver, css: str, timeout: float = 20):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def log_in(driver, base: str, email: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(driver, "#user-tools")
