"""The dashboard in a real browser: `streamlit run dashboard.py` on localhost, Debian's headless
Chromium loads it, the recommendation must be visible, and screenshots are taken (into docs/screenshots/
only with ADVISOR_REFRESH_SCREENSHOTS=1).

Chromium is driven over the DevTools protocol (with the `websockets` package Streamlit already
depends on) rather than with ``--screenshot``: Streamlit renders client-side after its script
has run on the server, and ``--virtual-time-budget`` does not wait for that real time.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from advisor.validate.wllama_browser import chromium_path  # the one lookup of a Chromium binary

ROOT = Path(__file__).resolve().parents[1]
#: The screenshots in docs/ are refreshed only on request (ADVISOR_REFRESH_SCREENSHOTS=1): running the
#: suite must not modify tracked files. Otherwise they go to one temporary folder, each run
#: overwriting the last's (to look at them after a run; a folder per run piled up).
SHOTS = (ROOT / "docs" / "screenshots" if os.environ.get("ADVISOR_REFRESH_SCREENSHOTS") == "1"
         else Path(tempfile.gettempdir()) / "advisor-screenshots")
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.extra]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0",
]
WIDTH, HEIGHT = 1400, 1800



def _stop(proc: subprocess.Popen) -> None:
    """Terminate a child process, killing it if it does not exit within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Page:
    """The few DevTools calls the test needs, over one page's websocket."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)

    def call(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def settled(self, must_contain: str) -> bool:
        """Streamlit has finished the script run and drawn the text."""
        state = self.js(
            "JSON.stringify({text: document.body ? document.body.innerText : '',"
            " running: !!document.querySelector('[data-testid=\"stStatusWidget\"] button, [data-testid=\"stStatusWidget\"] img')})"
        )
        if not state:
            return False
        state = json.loads(state)
        return must_contain in state["text"] and not state["running"] and "Please wait" not in state["text"]

    def click_text(self, selector: str, text: str, timeout: float = 30) -> None:
        """A real mouse click on the element with this text (React widgets ignore element.click()),
        once it is drawn: Streamlit draws a run's elements one after another, so a page whose
        heading is up may not show its tabs yet on a busy machine."""
        rect = wait_for(lambda: self.js(
            f"(() => {{ const el = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.innerText.trim() === {json.dumps(text)}); if (!el) return null;"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        ), timeout, f"a {selector} with text {text!r} on the page")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=rect["x"], y=rect["y"], button="left", clickCount=1)

    def select(self, label: str, text: str) -> None:
        """Choose an option of the selectbox whose label starts with ``label``: click it, type, Enter."""
        rect = wait_for(lambda: self.js(
            "(() => { const box = [...document.querySelectorAll('[data-testid=stSelectbox]')]"
            f".find(b => b.innerText.split('\\n')[0].trim().startsWith({json.dumps(label)})); if (!box) return null;"
            " const el = box.querySelector('[role=combobox], input') || box; el.scrollIntoView({block: 'center'});"
            " const r = el.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        ), 30, f"a selectbox labelled {label!r} on the page")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=rect["x"], y=rect["y"], button="left", clickCount=1)
        time.sleep(0.5)
        self.call("Input.insertText", text=text)
        time.sleep(0.5)
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)

    def full_page(self, path: Path) -> None:
        """A screenshot of the whole page (the viewport grown to the content, then restored)."""
        full = self.js("(document.querySelector('[data-testid=stMain]') || document.body).scrollHeight") or HEIGHT
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=min(int(full), 5000), deviceScaleFactor=1, mobile=False)
        time.sleep(1.5)
        self.screenshot(path)
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: proc.poll() is not None or http_ok(f"{url}/_stcore/health"), 60, "the streamlit server")
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited: {proc.stdout.read().decode(errors='replace')}")
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; scripts/test does it when run as root)")
    profile = tempfile.mkdtemp(prefix="advisor-chromium-")
    proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        wait_for(lambda: proc.poll() is not None or (port_file.exists() and port_file.read_text().strip()), 60, "chromium to start")
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with code {proc.returncode}")
        port = int(port_file.read_text().split()[0])

        def page_target():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = json.load(r)
            except OSError:
                return None
            return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)

        from websockets.sync.client import connect

        with connect(wait_for(page_target, 30, "a chromium page"), max_size=64 * 2**20, open_timeout=20) as ws:
            page = Page(ws)
            page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
            yield page
    finally:
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)


def expected_pick_heading() -> str:
    """What the page must say, from the library itself (default device and workload)."""
    from advisor import api
    from advisor.catalog import load_catalog
    from advisor.engine.recommend import Constraints
    from advisor.records import Workload

    cat = load_catalog()
    rec = api.run_recommend(cat.device("raspberry-pi-5-8gb"), Workload(), Constraints(), cat)
    assert rec.pick is not None
    return f"Best pick: {cat.models[rec.pick.model_id].name} · {rec.pick.quant_id}"


def test_recommendation_visible_in_chromium(server, browser):
    heading = expected_pick_heading()
    browser.call("Page.navigate", url=server)
    wait_for(lambda: browser.settled(heading), 90, f"'{heading}' on the page")
    time.sleep(1.5)  # the table is drawn on a canvas after the text
    text = browser.js("document.body.innerText")
    assert "Traceback" not in text and "Error" not in text.split("Best pick")[0]
    for label in ("Memory", "Decode", "Time to first token", "Candidates", "Compare devices"):
        assert label in text
    browser.screenshot(SHOTS / "dashboard.png")
    assert (SHOTS / "dashboard.png").stat().st_size > 20_000

    # the plots tab: every chart drawn (plotly puts an SVG per chart in the page)
    browser.click_text("[role=tab]", "Plots")
    visible_charts = "[...document.querySelectorAll('.js-plotly-plot')].filter(p => p.offsetParent !== null).length"
    wait_for(lambda: (browser.js(visible_charts) or 0) >= 4, 60, "the four charts of the Plots tab")
    time.sleep(1.5)
    titles = browser.js("[...document.querySelectorAll('.js-plotly-plot .gtitle')].map(t => t.textContent).join(' | ')")
    assert "Quality vs decode speed" in titles and "Memory breakdown" in titles
    # the whole page, not just the first screen: grow the viewport to the content (Streamlit scrolls a div)
    full = browser.js("(document.querySelector('[data-testid=stMain]') || document.body).scrollHeight") or HEIGHT
    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=min(int(full), 5000), deviceScaleFactor=1, mobile=False)
    time.sleep(1.5)
    browser.screenshot(SHOTS / "dashboard_plots.png")


def test_memory_chart_names_fit_on_an_800_px_screen(server, browser):
    """On an 800 px screen the memory chart, in half of the page, cut its model names (its y axis)
    on the left: each name lies whole inside the chart."""
    heading = expected_pick_heading()
    browser.call("Emulation.setDeviceMetricsOverride", width=800, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    try:
        browser.call("Page.navigate", url=server)
        time.sleep(1)
        wait_for(lambda: browser.settled(heading), 90, f"'{heading}' on the page")
        browser.click_text("[role=tab]", "Plots")
        chart = ("[...document.querySelectorAll('.js-plotly-plot')].find(p => p.offsetParent !== null"
                 " && (p.querySelector('.gtitle') || {}).textContent?.startsWith('Memory breakdown'))")
        wait_for(lambda: browser.js(f"!!{chart}"), 60, "the memory chart")
        time.sleep(1.5)
        labels = json.loads(browser.js(
            f"JSON.stringify((() => {{ const p = {chart}; p.scrollIntoView({{block: 'start'}}); const r = p.getBoundingClientRect();"
            " return [...p.querySelectorAll('.yaxislayer-above .ytick text')].map(t => { const b = t.getBoundingClientRect();"
            " return [t.textContent, b.left - r.left]; }); })())"))
        time.sleep(0.5)
        browser.screenshot(SHOTS / "dashboard_memory_800px.png")
        assert heading.removeprefix("Best pick: ").replace(" · ", " ") in [text for text, _ in labels]
        assert [text for text, left in labels if left < 0] == []
    finally:
        browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)


def test_llama_cpp_settings_open_in_the_sidebar(server, browser):
    """The sidebar's llama.cpp settings (threads, flash attention, repacking) open on a click."""
    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=server)
    time.sleep(1)
    wait_for(lambda: browser.settled("llama.cpp settings"), 90, "the sidebar's llama.cpp settings")
    browser.click_text("summary p", "llama.cpp settings")  # the summary's own text also holds an icon name
    wait_for(lambda: "Repack weights for the CPU at load" in (browser.js("document.body.innerText") or ""), 30,
             "the expander's widgets")
    text = browser.js("document.body.innerText")
    assert "CPU threads (0 = the device's big cores)" in text and "Flash attention" in text
    time.sleep(1)
    browser.screenshot(SHOTS / "dashboard_llama_cpp_settings.png")


def test_browser_target_runtimes_and_tiers_in_chromium(server, browser):
    """Pixel 8 in a browser tab: the pick card names the target's budget and the binding limit;
    the Runtimes compared and What to ship per RAM tier views draw their tables and chart."""
    from advisor import api
    from advisor.catalog import load_catalog
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints
    from advisor.records import Workload

    cat = load_catalog()
    device = cat.device("pixel-8")
    dep = api.make_deployment(device, "browser", catalog=cat)
    rec = api.run_recommend(device, Workload(), Constraints(runtimes=ALL_RUNTIMES, deployment=dep), cat)
    pick = rec.pick
    heading = f"Best pick: {cat.models[pick.model_id].name} · {pick.quant_id} on {pick.runtime} ({pick.backend})"

    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=server)
    time.sleep(1)  # the previous page's text must not count as the new one's
    wait_for(lambda: browser.settled("Runtime and target"), 90, "the page and its sidebar")
    browser.select("Profile (", "Pixel 8")
    wait_for(lambda: browser.settled("Google Pixel 8"), 60, "Pixel 8 chosen")
    browser.select("Deployment target", "Browser tab")
    wait_for(lambda: browser.settled(heading), 90, f"'{heading}' on the page")
    time.sleep(1.5)
    text = browser.js("document.body.innerText")
    assert "Target: Browser tab" in text and "Binding limit:" in text and "maxStorageBufferBindingSize" in text
    browser.full_page(SHOTS / "dashboard_browser_target.png")

    browser.click_text("label p, label div", "Runtimes compared")
    wait_for(lambda: browser.settled("Runtimes compared on Google Pixel 8"), 60, "the Runtimes compared view")
    wait_for(lambda: browser.js("document.querySelectorAll('.js-plotly-plot').length") == 1, 30, "its chart")
    time.sleep(1.5)
    assert "Decode speed by runtime" in browser.js("[...document.querySelectorAll('.js-plotly-plot .gtitle')].map(t => t.textContent).join()")
    browser.full_page(SHOTS / "dashboard_runtimes.png")

    browser.click_text("label p, label div", "What to ship per RAM tier")
    wait_for(lambda: browser.settled("What to ship per RAM tier: Browser tab"), 60, "the tiers view")
    wait_for(lambda: browser.settled(" GB tier:"), 120, "the tiers computed")
    time.sleep(1.5)
    text = browser.js("document.body.innerText")
    assert "Traceback" not in text
    browser.full_page(SHOTS / "dashboard_tiers.png")
    assert (SHOTS / "dashboard_tiers.png").stat().st_size > 20_000


def test_power_mode_in_chromium(server, browser):
    """Jetson AGX Orin 64GB: the Power mode selectbox appears under the profile, and 15W answers
    with the 15W device (its name on the page, the library's pick for `--device ...@15W`)."""
    from advisor import api
    from advisor.catalog import load_catalog
    from advisor.records import Workload

    cat = load_catalog()
    device = cat.device("jetson-agx-orin-64gb@15W")
    rec = api.run_recommend(device, Workload(), api.Constraints(), cat)
    heading = f"Best pick: {cat.models[rec.pick.model_id].name} · {rec.pick.quant_id}"

    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=server)
    time.sleep(1)
    wait_for(lambda: browser.settled("Runtime and target"), 90, "the page and its sidebar")
    browser.select("Profile (", "Jetson AGX Orin 64GB")
    wait_for(lambda: browser.settled("Power mode"), 60, "the Power mode selectbox")
    browser.select("Power mode", "15W")
    wait_for(lambda: browser.settled("15W power mode") and browser.settled(heading), 90, f"the 15W answer ('{heading}')")
    time.sleep(1.5)
    text = browser.js("document.body.innerText")
    assert "Traceback" not in text
    browser.screenshot(SHOTS / "dashboard_power_mode.png")
    assert (SHOTS / "dashboard_power_mode.png").stat().st_size > 20_000
