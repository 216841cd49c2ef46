"""End to end in a real headless Chromium (Debian's, driven by playwright): the app and the
engine daemon run as subprocesses on 127.0.0.1; the test opens nodes by clicking them on the
visual editor's canvas, edits a setup there, saves it, runs a backtest through the daemon,
and screenshots every page into artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
PAGES = ["", "data", "setups", "editor", "backtest", "runs", "journal", "settings"]

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                                  reason="Debian chromium is not installed")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the app did not become healthy")


@pytest.fixture()
def served(tmp_path):
    env = {**os.environ, "ITA_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "engine.cli", "demo"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = _free_port()
    engine = subprocess.Popen([sys.executable, "-m", "engine.cli", "engine"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
                            "--server.headless", "true", "--server.address", "127.0.0.1",
                            "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        yield url, tmp_path
    finally:
        for process in (app, engine):
            process.terminate()
        for process in (app, engine):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _settled(page) -> None:
    """Wait until Streamlit has finished the rerun a widget action started (on a loaded
    2-core machine a rerun can take seconds; fixed sleeps made this test flaky)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=60_000)


def _pick(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    _settled(page)


def test_edit_save_backtest_and_screenshots(served) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, home = served
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)

        # a bookmarked page opened first on a fresh server still gets the app's navigation
        page.goto(f"{url}/runs")  # the first load compiles the app; give it time once
        expect(page.get_by_text("Research", exact=True)).to_be_visible(timeout=120_000)
        page.goto(url)
        expect(page.get_by_text("Candle series")).to_be_visible(timeout=60_000)
        page.goto(f"{url}/editor")
        expect(page.get_by_text("Visual editor")).to_be_visible(timeout=60_000)
        _pick(page, "Setup", "bos-order-block-retest")
        # a click on a node box on the canvas opens that node in the side panel
        node_list = page.get_by_role("combobox", name="Node", exact=True)
        frames = page.locator('iframe[title*="streamlit_flow"]')
        expect(frames).to_have_count(1)  # a new canvas reports once on mount: let that settle
        _settled(page)
        canvas = frames.content_frame
        canvas.locator('.react-flow__node[data-id="stop"]').click()
        _settled(page)
        expect(node_list).to_have_value("stop")
        expect(page.get_by_label("buffer_atr", exact=True)).to_be_visible()
        canvas.locator('.react-flow__node[data-id="entry"]').click()
        _settled(page)
        expect(node_list).to_have_value("entry")
        expect(page.get_by_label("expiry_bars", exact=True)).to_be_visible()
        _pick(page, "Node", "target")
        field = page.get_by_label("r_multiple", exact=True)
        field.fill("3.5")
        field.press("Enter")
        _settled(page)
        page.get_by_role("button", name="Apply").click()
        _settled(page)
        page.get_by_role("button", name="Save as new version").click()
        _settled(page)
        expect(page.get_by_text("Saved bos-order-block-retest v2")).to_be_visible(
            timeout=30_000)
        saved = home / "setups" / "bos-order-block-retest" / "v0002.yaml"
        assert saved.exists() and "r_multiple: 3.5" in saved.read_text()
        assert (home / "setups" / "bos-order-block-retest" / "v0002.layout.json").exists()

        page.goto(f"{url}/backtest")
        expect(page.get_by_text("Run backtest")).to_be_visible()
        _pick(page, "Setup", "bos-order-block-retest")
        page.get_by_role("button", name="Run backtest").click()
        expect(page.get_by_test_id("stMetricLabel").filter(has_text="Win rate")).to_be_visible(
            timeout=120_000)
        expect(page.get_by_text("bos-order-block-retest @ v2 — BTC/USDT")).to_be_visible()
        runs = list((home / "runs").glob("*bos-order-block-retest-v2"))
        assert len(runs) == 1  # written by the daemon through the job bus
        jobs = list((home / "exchange" / "jobs").glob("*.json"))
        assert jobs and '"state": "done"' in jobs[0].read_text()

        for name in PAGES:  # every page settles: none reruns itself in a loop
            page.goto(f"{url}/{name}")
            page.wait_for_timeout(2000)
            _settled(page)
            page.wait_for_timeout(1500)  # let charts draw
            assert not page.get_by_text("Traceback").count()
            page.screenshot(path=str(SHOTS / f"{name or 'home'}.png"), full_page=True)
        browser.close()
