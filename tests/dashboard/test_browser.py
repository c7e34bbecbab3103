"""The dashboard in a real browser: headless Chromium opens every page of a dashboard
started on a free loopback port and finds the charts and tables drawn, no exception."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from robo_dagster.dashboard import queries
from robo_dagster.dashboard.browser import Chromium, find_chromium, running_dashboard
from robo_dagster.dashboard.layout import TITLES
from tests.dashboard.conftest import Desk

# CI installs Chromium (.ci/run) and must not skip these: there, a missing browser fails.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_chromium() is None and not os.environ.get("CI"),
        reason="no Chromium (apt-get install chromium)",
    ),
]

# page: (title, charts at least, tables at least, metrics at least)
PAGES = {
    "book": (TITLES["book"], 4, 2, 9),
    "risk": (TITLES["risk"], 4, 2, 8),
    "recommendations": (TITLES["recommendations"], 4, 3, 0),
    "market": (TITLES["market"], 4, 2, 6),
    "alerts": (TITLES["alerts"], 1, 4, 4),
}
SCIENTIFIC = re.compile(r"\d\.\d+e[+-]\d")


def test_every_page_renders_its_figures_in_chromium(desk: Desk, tmp_path: Path) -> None:
    log = tmp_path / "dashboard.log"
    with running_dashboard(desk.database, desk.dagster_home, log=log) as url, Chromium() as browser:
        for page, (title, charts, tables, metrics) in PAGES.items():
            state = browser.open_page(f"{url}/{page}", title)
            assert state.path == f"/{page}"
            assert not state.exceptions, (page, state.exceptions)
            assert not state.errors, (page, state.errors)
            assert "Traceback" not in state.text, page
            assert queries.NOTHING_MATERIALIZED not in state.text.lower(), page
            assert state.charts >= charts, (page, state)
            assert state.tables >= tables, (page, state)
            assert state.metrics >= metrics, (page, state)
            assert not SCIENTIFIC.search(state.text), (page, SCIENTIFIC.search(state.text))
        home = browser.open_page(url, "Book")  # the root opens the Book
        assert home.path == "/book"
        shot = browser.screenshot(tmp_path / "book.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]


def test_an_empty_desk_renders_the_message_in_chromium(tmp_path: Path) -> None:
    database = str(tmp_path / "robo.duckdb")
    with running_dashboard(database) as url, Chromium() as browser:
        for page, (title, *_) in PAGES.items():
            state = browser.open_page(f"{url}/{page}", title)
            assert not state.exceptions and not state.errors, page
            assert "Nothing materialized yet: run make pipeline" in state.text, page
            assert state.charts == 0 and state.tables == 0, page
    assert not Path(database).exists()
