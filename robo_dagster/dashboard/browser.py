"""The dashboard in a real browser: a dashboard process on a free loopback port, and
headless Chromium driven over the DevTools protocol (a websocket, no extra package).

``scripts/dashboard_screenshots.py`` and the browser test use both::

    with running_dashboard(database) as url, Chromium() as browser:
        page = browser.open_page(f"{url}/book", "Book")
        browser.screenshot("book.png")
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
START_TIMEOUT_S = 60.0
RENDER_TIMEOUT_S = 90.0
POLL_S = 0.25
# A page counts as rendered once what it shows has not changed for this long.
SETTLE_S = 1.5

# What a rendered Streamlit page shows, read in the page: the script state, the title,
# and how many charts, tables and metrics have drawn (a chart draws a canvas or an svg).
PAGE_STATE_JS = """
(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const all = (sel) => Array.from(document.querySelectorAll(sel));
  const drawn = (sel) => all(sel).filter((el) => el.querySelector('canvas, svg')).length;
  return {
    script: app ? app.getAttribute('data-test-script-state') : null,
    title: (all('h1').map((h) => h.innerText.trim()).filter(Boolean)[0]) || '',
    charts: all('[data-testid="stVegaLiteChart"]').length,
    charts_drawn: drawn('[data-testid="stVegaLiteChart"]'),
    tables: all('[data-testid="stDataFrame"]').length,
    tables_drawn: drawn('[data-testid="stDataFrame"]'),
    metrics: all('[data-testid="stMetric"]').length,
    exceptions: all('[data-testid="stException"]').map((e) => e.innerText),
    errors: all('[data-testid="stAlertContentError"]').map((e) => e.innerText),
    running: all('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"]').length,
    text: document.body ? document.body.innerText : '',
    path: location.pathname,
  };
})()
"""


class BrowserError(RuntimeError):
    """Chromium or the dashboard did not start, or a page did not render in time."""


@dataclass(frozen=True)
class PageState:
    """What one rendered page showed."""

    path: str
    title: str
    charts: int
    tables: int
    metrics: int
    exceptions: list[str]
    errors: list[str]
    text: str


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) on this machine, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _stop_group(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group this module started, then SIGKILL what outlives ``grace_s``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running_dashboard(
    database: str,
    dagster_home: str | None = None,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """``python -m robo_dagster.dashboard`` on ``database`` and a free loopback port,
    with its own home folder (so ``~/.streamlit`` plays no part); yields its URL once
    Streamlit's health check answers, and stops it on exit."""
    port = port or free_port()
    home = Path(tempfile.mkdtemp(prefix="robo-dashboard-home-"))
    env = {**os.environ, "ROBO_DUCKDB_PATH": database, "HOME": str(home), **(extra_env or {})}
    if dagster_home is None:
        env.pop("DAGSTER_HOME", None)
    else:
        env["DAGSTER_HOME"] = dagster_home
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "robo_dagster.dashboard", "--port", str(port)],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        _stop_group(process)
        if log:
            output.close()  # type: ignore[union-attr]
        shutil.rmtree(home, ignore_errors=True)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"the dashboard exited with status {process.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(POLL_S)
    raise BrowserError(f"the dashboard at {url} did not answer within {START_TIMEOUT_S:g} s")


class Chromium:
    """Headless Chromium with one tab, driven over the DevTools protocol."""

    def __init__(self, executable: str | None = None, width: int = 1400, height: int = 1000):
        found = executable or find_chromium()
        if found is None:
            raise BrowserError(
                "no Chromium found: install it (apt-get install -y chromium) or pass its path"
            )
        self.executable = found
        self.width = width
        self.height = height
        self._ids = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: str | None = None
        self._socket: Any = None

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Start Chromium and attach to its first tab."""
        from websockets.sync.client import connect

        self._profile = tempfile.mkdtemp(prefix="robo-chromium-")
        self._process = subprocess.Popen(
            [
                self.executable,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port = self._devtools_port()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                targets = json.loads(answer.read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise BrowserError("Chromium opened no tab")
            time.sleep(POLL_S)
        self._socket = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )

    def _devtools_port(self) -> int:
        assert self._profile is not None and self._process is not None
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"Chromium exited with status {self._process.returncode}")
            if marker.exists():
                first = marker.read_text().splitlines()[:1]
                if first and first[0].isdigit():
                    return int(first[0])
            time.sleep(POLL_S)
        raise BrowserError(f"Chromium did not open its DevTools port in {START_TIMEOUT_S:g} s")

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DevTools command and its result (events in between are skipped)."""
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        while True:
            reply = json.loads(self._socket.recv(timeout=RENDER_TIMEOUT_S))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """``expression``'s value in the page."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open_page(self, url: str, title: str, timeout_s: float = RENDER_TIMEOUT_S) -> PageState:
        """Load ``url`` and wait until the Streamlit page titled ``title`` has finished
        its script and drawn every chart and table, unchanged for ``SETTLE_S``."""
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            state = self.evaluate(PAGE_STATE_JS) or {}
            ready = (
                state.get("script") == "notRunning"
                and state.get("title") == title
                and not state.get("running")
                and state.get("charts_drawn") == state.get("charts")
                and state.get("tables_drawn") == state.get("tables")
            )
            summary = {k: state.get(k) for k in ("title", "charts", "tables", "metrics", "path")}
            if not ready or summary != last:
                last = summary if ready else None
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since >= SETTLE_S:
                return PageState(
                    path=str(state["path"]),
                    title=str(state["title"]),
                    charts=int(state["charts"]),
                    tables=int(state["tables"]),
                    metrics=int(state["metrics"]),
                    exceptions=list(state["exceptions"]),
                    errors=list(state["errors"]),
                    text=str(state["text"]),
                )
            time.sleep(POLL_S)
        raise BrowserError(f"{url} did not render {title!r} within {timeout_s:g} s: {last}")

    def screenshot(self, path: str | Path, full_page: bool = True) -> Path:
        """A PNG of the page (the whole of it with ``full_page``)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            # Streamlit scrolls inside its own container: measure that, not the window.
            height = self.evaluate(
                "Math.max(document.body.scrollHeight, ...Array.from(document.querySelectorAll("
                '\'[data-testid="stMain"], [data-testid="stAppViewContainer"], section.main\''
                ")).map((e) => e.scrollHeight))"
            )
            height = max(int(height or self.height), self.height)
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            time.sleep(SETTLE_S)  # let the charts redraw at the new size
            params["captureBeyondViewport"] = False
        data = self.send("Page.captureScreenshot", params)["data"]
        if full_page:
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": self.width,
                    "height": self.height,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        return target

    def close(self) -> None:
        """Close the tab's socket and stop the Chromium this object started."""
        if self._socket is not None:
            with contextlib.suppress(Exception):
                self._socket.close()
            self._socket = None
        if self._process is not None:
            _stop_group(self._process, grace_s=5.0)
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
