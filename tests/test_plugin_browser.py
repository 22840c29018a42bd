"""End-to-end test of the Privacy dashboard: TensorBoard and headless Chromium.

A `tensorboard --logdir ...` subprocess serves the demo's logs while the
demo trains (TensorBoard needs about 12 s to start next to TensorFlow, so
both happen at once), plus a copy of the run under a name made of HTML and
script tags. Chromium opens the Privacy tab, switches into the plugin's
iframe, and the test compares what the page shows with the values read
straight from the event files.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them)
and Selenium. Without them the test is skipped, or fails when `CI` is set.

To refresh the README screenshot (12 demo epochs instead of 3, and no
hostile run, whose test is then skipped):

    KERAS_MIA_DASHBOARD_PNG=docs/dashboard.png \\
        .venv/bin/pytest tests/test_plugin_browser.py
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from keras_mia.attacks import ATTACKS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMEDRIVER = "/usr/bin/chromedriver"
DASHBOARD_PNG = os.environ.get("KERAS_MIA_DASHBOARD_PNG")
DEMO_EPOCHS = 12 if DASHBOARD_PNG else 3
DEMO_BUDGET = 0.25
STARTUP_TIMEOUT_SECONDS = 90
RENDER_TIMEOUT_SECONDS = 30
TOP_K = 10  # the dashboard's default

RUN = "digits/privacy"
# Becomes the experiment name "<script>alert(1)</script><img src=x ...>":
# a run name is the relative path, and "/" separates the two directories.
HOSTILE_DIRS = ("<script>alert(1)<", "script><img src=x onerror=alert(1)>")
HOSTILE_EXPERIMENT = "/".join(HOSTILE_DIRS)
HOSTILE_RUN = HOSTILE_EXPERIMENT + "/privacy"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def webdriver_module():
    """Selenium's webdriver, after checking that Chromium is installed."""
    missing = [
        name
        for name, found in (
            ("chromium", shutil.which("chromium")),
            ("chromedriver", os.path.exists(CHROMEDRIVER)),
        )
        if not found
    ]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium (pip)")
        webdriver = None
    if missing:
        reason = (
            f"headless browser test needs {', '.join(missing)}; install "
            "with `apt-get install chromium chromium-driver` and "
            "`pip install selenium`"
        )
        if _in_ci():
            pytest.fail(f"{reason} (CI is set, so this is an error)")
        pytest.skip(reason)
    return webdriver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _plugin_env(tmp: Path) -> dict:
    """The environment of the TensorBoard subprocess.

    TensorBoard finds plugins through the `tensorboard_plugins` entry point.
    When keras-mia is installed, that is already there; when the checkout
    is only importable (not installed), a throwaway distribution directory
    on `PYTHONPATH` declares it for the subprocess. Whether the package
    declares the entry point is `test_plugin_entry_point_registered`'s job.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    groups = importlib.metadata.entry_points(group="tensorboard_plugins")
    paths = [str(Path(__file__).resolve().parents[1])]
    if "keras_mia" not in {ep.name for ep in groups}:
        dist = tmp / "shim" / "keras_mia_checkout-0.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: keras-mia-checkout\nVersion: 0.0\n"
        )
        (dist / "entry_points.txt").write_text(
            "[tensorboard_plugins]\n"
            "keras_mia = keras_mia.tensorboard.plugin:PrivacyPlugin\n"
        )
        paths.insert(0, str(dist.parent))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _tensorboard_command(logdir: Path, port: int) -> list[str]:
    script = Path(sys.executable).with_name("tensorboard")
    command = [str(script)] if script.exists() else [
        sys.executable, "-m", "tensorboard.main"
    ]
    return command + [
        "--logdir", str(logdir),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--samples_per_plugin=keras_mia=0",
        "--reload_interval=1",  # see the demo's logs soon after they land
    ]


@contextlib.contextmanager
def _tensorboard(logdir: Path, tmp: Path):
    """Runs TensorBoard on `logdir`; always stops it (and its children)."""
    port = _free_port()
    log = open(tmp / "tensorboard.log", "wb")
    process = subprocess.Popen(
        _tensorboard_command(logdir, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_plugin_env(tmp),
        start_new_session=True,  # its data server dies with the group
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        # Nothing to save: kill the whole group (TensorBoard and its data
        # server) at once rather than wait for a graceful exit.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        log.close()


def _wait_for_runs(process, url: str, tmp: Path, expected: dict) -> None:
    """Polls `/runs` until every expected run lists its evaluated steps."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    listed = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            listed = _get_json(f"{url}/data/plugin/keras_mia/runs")
        except (urllib.error.URLError, ConnectionError, ValueError):
            listed = None
        if listed is not None:
            steps = {r["run"]: r["steps"] for r in listed["runs"]}
            if all(steps.get(r) == s for r, s in expected.items()):
                return
        time.sleep(0.5)
    output = (tmp / "tensorboard.log").read_text(errors="replace")[-3000:]
    pytest.fail(
        f"TensorBoard did not serve runs {sorted(expected)} within "
        f"{STARTUP_TIMEOUT_SECONDS} s (exit code {process.poll()}); last "
        f"listing: {listed}; output:\n{output}"
    )


def _read_events(run_dir: Path) -> dict[str, dict[int, np.ndarray]]:
    """`{tag: {step: value}}` from the event files, without TensorBoard."""
    import tensorflow as tf

    values: dict[str, dict[int, np.ndarray]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    values.setdefault(value.tag, {})[event.step] = array
    return values


@pytest.fixture(scope="module")
def served(webdriver_module, tmp_path_factory):
    """TensorBoard serving the demo's logs and a hostile-named copy."""
    from keras_mia.demo import run_demo

    tmp = tmp_path_factory.mktemp("browser")
    logdir = tmp / "logs"
    logdir.mkdir()
    with _tensorboard(logdir, tmp) as (process, url):
        # TensorBoard starts while the demo trains.
        run_demo(
            log_dir=logdir / "digits", epochs=DEMO_EPOCHS, budget=DEMO_BUDGET
        )
        runs = (RUN,) if DASHBOARD_PNG else (RUN, HOSTILE_RUN)
        if HOSTILE_RUN in runs:
            shutil.copytree(
                logdir / "digits", logdir.joinpath(*HOSTILE_DIRS)
            )
        events = _read_events(logdir / "digits" / "privacy")
        steps = sorted(events["mia/auc"])
        _wait_for_runs(process, url, tmp, dict.fromkeys(runs, steps))
        yield {
            "url": url,
            "runs": runs,
            "events": events,
            "steps": steps,
            "loss": {
                name: _read_events(logdir / "digits" / name)["epoch_loss"]
                for name in ("train", "validation")
            },
        }


@pytest.fixture(scope="module")
def driver(webdriver_module):
    from selenium.webdriver.chrome.service import Service

    options = webdriver_module.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="kmia-chromium-")
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1690",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver_module.Chrome(
        service=Service(CHROMEDRIVER), options=options
    )
    browser.set_page_load_timeout(RENDER_TIMEOUT_SECONDS)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout=RENDER_TIMEOUT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _css(root, selector):
    from selenium.webdriver.common.by import By

    return root.find_elements(By.CSS_SELECTOR, selector)


def _card(driver, run):
    cards = [c for c in _css(driver, "article.kmia-card")
             if c.get_attribute("data-run") == run]
    return cards[0] if cards else None


def _rendered(driver, run, top_k=TOP_K):
    """Whether the run's card shows its records table (the last view)."""
    card = _card(driver, run)
    rows = [] if card is None else _css(card, "table.kmia-records tbody tr")
    return len(rows) == top_k


def _open_privacy_tab(driver, url: str, runs: tuple[str, ...]) -> None:
    """Shows TensorBoard's Privacy tab and switches into its iframe.

    TensorBoard's own frontend takes seconds to load, so a page the
    previous test left on the tab is reused.
    """
    driver.switch_to.default_content()
    if driver.current_url != f"{url}/#keras_mia":
        driver.get(f"{url}/#keras_mia")
    frame = _wait(
        driver,
        lambda d: next(
            (f for f in _css(d, "iframe")
             if "plugin_entry.html?name=keras_mia" in (
                 f.get_attribute("src") or "")),
            False,
        ),
    )
    driver.switch_to.frame(frame)
    _wait(driver, lambda d: all(_rendered(d, run) for run in runs))


def _series(card, chart):
    return {
        g.get_attribute("data-series"): g
        for g in _css(card, f"figure[data-chart='{chart}'] g[data-series]")
    }


def _assert_no_plugin_errors(driver):
    """No uncaught error or failed request from the plugin's page."""
    errors = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and (
            "/data/plugin/keras_mia/" in entry["message"]
            or "plugin_entry.html" in entry["message"]
        )
    ]
    assert errors == []


def _assert_no_alert(driver):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions

    with pytest.raises(TimeoutException):
        _wait(driver, expected_conditions.alert_is_present(), timeout=0.5)


def test_dashboard_shows_hostile_run_name_as_text(served, driver):
    """HTML in a run name is shown literally and never parsed.

    TensorBoard's content-security policy would block an inline `onerror`
    handler anyway, so "no alert" alone proves little: the test also
    checks that no element was created from the name and that the text
    is shown as it is.
    """
    if HOSTILE_RUN not in served["runs"]:
        pytest.skip("KERAS_MIA_DASHBOARD_PNG is set: no hostile run")
    _open_privacy_tab(driver, served["url"], served["runs"])
    card = _card(driver, HOSTILE_RUN)
    assert card.find_element("css selector", ".kmia-card-title").text == (
        HOSTILE_EXPERIMENT
    )
    assert card.find_element("css selector", ".kmia-card-run").text == (
        HOSTILE_RUN
    )
    picker = [e.text for e in _css(driver, ".kmia-run-name")]
    assert HOSTILE_RUN in picker
    legend = _css(driver, "figure[data-chart='compare'] .kmia-legend")[0].text
    assert HOSTILE_RUN in legend
    assert _css(driver, "img") == []
    scripts = [s.get_attribute("textContent") for s in _css(driver, "script")]
    assert not any("alert" in s for s in scripts)
    driver.switch_to.default_content()
    assert _css(driver, "img[src='x']") == []
    _assert_no_alert(driver)


def test_dashboard_renders_demo_numbers(served, driver, tmp_path):
    events, steps = served["events"], served["steps"]
    last = steps[-1]
    _open_privacy_tab(driver, served["url"], served["runs"])
    card = _card(driver, RUN)

    # Leakage over epochs: one line per attack plus the maximum, per epoch.
    leakage = _series(card, "leakage")
    assert set(leakage) == set(ATTACKS) | {"max over attacks"}
    for group in leakage.values():
        path = _css(group, "path")[0]
        assert path.get_attribute("data-points") == str(len(steps))
    loss = _series(card, "loss")
    assert set(loss) == {"train", "validation"}
    for name, group in loss.items():
        n_epochs = len(served["loss"][name])
        assert _css(group, "path")[0].get_attribute("data-points") == str(
            n_epochs
        )

    # The selected (latest) evaluation's headline numbers.
    stats = {
        s.get_attribute("data-metric"): s.find_element("css selector",
                                                       ".kmia-stat-value").text
        for s in _css(card, ".kmia-stat")
    }
    for metric in ("auc", "advantage", "accuracy", "tpr_at_1pct_fpr"):
        assert stats[metric] == f"{float(events[f'mia/{metric}'][last]):.4f}"

    # ROC curves of every attack, on both axes, with their AUCs.
    for chart in ("roc-linear", "roc-log"):
        assert set(_series(card, chart)) == set(ATTACKS)
    roc_legend = _css(card, ".kmia-roc .kmia-legend")[0].text
    for attack in ATTACKS:
        auc = float(events[f"mia/{attack}/auc"][last])
        assert f"{attack} (AUC {auc:.3f})" in roc_legend
    risk = _series(card, "risk")
    assert set(risk) == {"members", "non-members"}
    assert all(_css(group, "rect") for group in risk.values())

    # The riskiest members: ids and scores straight from the event files.
    scores = events["mia_records/member_scores"][last].astype(np.float64)
    ids = [i.decode() for i in events["mia_records/member_ids"][steps[0]]]
    order = np.argsort(-scores, kind="stable")[:TOP_K]
    rows = _css(card, "table.kmia-records tbody tr")
    shown = [[td.text for td in _css(row, "td")] for row in rows]
    assert [r[1] for r in shown] == [ids[i] for i in order]
    assert [r[3] for r in shown] == [f"{scores[i]:.4f}" for i in order]

    # Several runs side by side, and a comparison of their leakage.
    if len(served["runs"]) > 1:
        assert set(_series(driver, "compare")) == set(served["runs"])

    # Another epoch: the summary and the table follow the slider.
    _select_evaluation(driver, 0, steps[0])
    card = _card(driver, RUN)
    first_auc = card.find_element(
        "css selector", ".kmia-stat[data-metric='auc'] .kmia-stat-value"
    ).text
    assert first_auc == f"{float(events['mia/auc'][steps[0]]):.4f}"
    assert "at epoch 1" in _css(card, "table.kmia-records caption")[0].text

    # The gate's budget appears with the metric it monitors.
    metric = _css(driver, "#kmia-metric")[0]
    driver.execute_script(
        "arguments[0].value = 'advantage';"
        "arguments[0].dispatchEvent(new Event('change'));",
        metric,
    )
    _wait(driver, lambda d: _card(d, RUN) is not None and _css(
        _card(d, RUN), "figure[data-chart='leakage'] line[data-kind='budget']"))
    _wait(driver, lambda d: _rendered(d, RUN))

    # Back to the latest evaluation for the picture.
    _select_evaluation(driver, len(steps) - 1, last)
    _assert_no_plugin_errors(driver)
    driver.switch_to.default_content()
    screenshot = Path(DASHBOARD_PNG) if DASHBOARD_PNG else (
        tmp_path / "dashboard.png"
    )
    driver.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


def _select_evaluation(driver, index: int, step: int) -> None:
    """Moves the demo run's epoch slider and waits for the new views."""
    slider = _css(_card(driver, RUN), "input.kmia-epoch")[0]
    driver.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('change'));",
        slider,
        index,
    )
    _wait(driver, lambda d: _card(d, RUN).find_element(
        "css selector", ".kmia-summary").get_attribute("data-step") == str(step)
        and _rendered(d, RUN))


def test_dashboard_empty_logdir_says_so(webdriver_module, driver, tmp_path):
    """A log dir without privacy data gets an explanation, not a blank tab.

    Served in-process by TensorBoard's WSGI app (no second subprocess), at
    the iframe page TensorBoard loads for the tab.
    """
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import (
        data_provider,
        plugin_event_multiplexer,
    )
    from tensorboard.plugins import base_plugin
    from werkzeug import serving

    from keras_mia.tensorboard.plugin import PrivacyPlugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(
        multiplexer, str(tmp_path)
    )
    privacy = PrivacyPlugin(
        base_plugin.TBContext(logdir=str(tmp_path), data_provider=provider)
    )
    app = application.TensorBoardWSGI([privacy], data_provider=provider)
    server = serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        driver.get(
            f"http://127.0.0.1:{server.port}"
            "/data/plugin_entry.html?name=keras_mia"
        )
        empty = _wait(
            driver, lambda d: next(iter(_css(d, ".kmia-empty")), False)
        )
        assert "No privacy data in this log directory" in empty.text
        assert "--samples_per_plugin=keras_mia=0" in empty.text
        assert _css(driver, "article.kmia-card") == []
    finally:
        server.shutdown()
        thread.join(timeout=10)
