"""The HTML audit report in headless Chromium, without network access."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from keras_mia.audit import audit_from_outputs
from keras_mia.dp import DpSgdConfig

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver")
    else shutil.which("chromedriver")
)
IN_CI = bool(os.environ.get("CI"))

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser():
    missing = [name for name, path in (("chromium", CHROMIUM),
                                       ("chromedriver", CHROMEDRIVER))
               if not path]
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not installed (Debian: apt-get install "
        "chromium chromium-driver)"
    )
    if IN_CI:
        pytest.fail(f"CI is set but {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    _require_browser()
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER), options=options
    )
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    rng = np.random.default_rng(11)

    def outputs(n, boost):
        labels = rng.integers(0, 3, n)
        alpha = np.ones((n, 3))
        alpha[np.arange(n), labels] += boost
        draws = rng.gamma(alpha)
        return draws / draws.sum(axis=1, keepdims=True), labels

    result = audit_from_outputs(
        *outputs(150, 6.0), *outputs(150, 2.0),
        [outputs(100, 6.0) + outputs(100, 2.0) for _ in range(2)],
        from_logits=False, dp=DpSgdConfig(1.2, 32, 4, 1e-5),
        member_ids=[f"<rec-{i}>" for i in range(150)], n_bootstraps=10,
    )
    path = tmp_path_factory.mktemp("report") / "audit.html"
    result.save_html(path, title="Browser <check>")
    return path


def test_report_browser_renders_figures_offline(driver, report_path):
    # No network: the page must not need it (its CSP forbids it anyway).
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": -1,
    })
    driver.get(report_path.as_uri())
    assert driver.title == "Browser <check>"
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({id: i.id, "
        "complete: i.complete, width: i.naturalWidth, height: "
        "i.naturalHeight, shown: i.getBoundingClientRect().width}))"
    )
    assert {i["id"] for i in images} == {"roc-linear", "roc-log", "risk-hist"}
    for image in images:
        assert image["complete"], image
        assert image["width"] > 100 and image["height"] > 100, image
        assert image["shown"] > 100, image
    # Nothing was fetched from outside the file.
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name)"
    )
    assert [r for r in resources if not r.startswith("data:")] == []


def test_report_browser_shows_tables_and_escaped_ids(driver, report_path):
    driver.get(report_path.as_uri())
    text = driver.execute_script("return document.body.innerText")
    for heading in ("Attacks", "Privacy budget", "Per class",
                    "Riskiest members"):
        assert heading in text
    assert "<rec-" in text  # shown as text, not parsed as a tag
    n_rows = driver.execute_script(
        "return document.querySelectorAll('table.per-class tbody tr').length"
    )
    assert n_rows == 3
    assert driver.execute_script(
        "return document.querySelectorAll('script').length"
    ) == 0
