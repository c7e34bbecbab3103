"""Screenshots of the desk dashboard: a PNG of each page, taken in headless Chromium.

    python scripts/dashboard_screenshots.py [--database data/robo.duckdb] [--out DIR]
        [--pages book risk ...] [--readme]

It starts the dashboard on a free loopback port over ``--database`` (default: the
snapshot beside ``ROBO_DUCKDB_PATH`` when there is one, so a running pipeline is never
made to wait, else the file itself), opens each page, waits until its charts and tables
have drawn, and saves ``<out>/dashboard-<page>.png``. ``--readme`` also writes the Book
page to ``docs/dashboard.png``, the README's picture. ``DAGSTER_HOME`` is passed on, so
the Alerts page shows that instance's runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's robo_dagster, not another install's

from robo_dagster import settings  # noqa: E402
from robo_dagster.dashboard.browser import Chromium, running_dashboard  # noqa: E402
from robo_dagster.dashboard.layout import TITLES  # noqa: E402
from robo_dagster.warehouse.snapshot import snapshot_path  # noqa: E402

README_PICTURE = ROOT / "docs" / "dashboard.png"


def default_database() -> str:
    live = settings.duckdb_path()
    snapshot = snapshot_path(live)
    return snapshot if Path(snapshot).exists() else live


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=None, help="the DuckDB file to show")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNGs")
    parser.add_argument(
        "--pages",
        nargs="+",
        choices=settings.DASHBOARD_PAGES,
        default=list(settings.DASHBOARD_PAGES),
    )
    parser.add_argument("--readme", action="store_true", help="also write docs/dashboard.png")
    parser.add_argument("--width", type=int, default=1400, help="window width in pixels")
    args = parser.parse_args(argv)
    source = Path(args.database or default_database()).expanduser()
    if not source.is_file():
        parser.error(f"no database at {source}: run `make pipeline` first")
    # The dashboard reads through the pipeline's lock, read-write: show a private copy,
    # so that neither the file nor a run that writes it is touched.
    with tempfile.TemporaryDirectory(prefix="robo-screenshots-") as scratch:
        database = Path(scratch) / "robo.duckdb"
        shutil.copyfile(source, database)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with (
            running_dashboard(str(database), os.environ.get("DAGSTER_HOME")) as url,
            Chromium(width=args.width) as browser,
        ):
            for page in args.pages:
                state = browser.open_page(f"{url}/{page}", TITLES[page])
                if state.exceptions:
                    print(f"{page}: the page raised: {state.exceptions[0]}", file=sys.stderr)
                    return 1
                target = browser.screenshot(out / f"dashboard-{page}.png")
                print(f"{page}: {target} ({state.charts} charts, {state.tables} tables)")
                if page == "book" and args.readme:
                    shutil.copyfile(target, README_PICTURE)
                    print(f"book: {README_PICTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
