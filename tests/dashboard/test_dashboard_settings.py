"""The dashboard's and the Dagster UI's addresses, as settings builds them from the environment."""

from __future__ import annotations

import re

import pytest

from robo_dagster import settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ROBO_DASHBOARD_URL", "DASHBOARD_PORT", "ROBO_DAGSTER_UI_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_loopback_on_the_usual_ports() -> None:
    assert settings.dashboard_url() == "http://127.0.0.1:8501"
    assert settings.dagster_ui_url() == "http://127.0.0.1:3000"
    assert settings.dashboard_page_url("book") == "http://127.0.0.1:8501/book"
    assert [settings.dashboard_page_url(p).rsplit("/", 1)[1] for p in settings.DASHBOARD_PAGES] == [
        "book",
        "risk",
        "recommendations",
        "market",
        "alerts",
    ]


def test_ports_and_urls_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_PORT", "8600")
    monkeypatch.setenv("PORT", "3111")
    assert settings.dashboard_page_url("risk") == "http://127.0.0.1:8600/risk"
    assert settings.dagster_ui_url() == "http://127.0.0.1:3111"
    monkeypatch.setenv("ROBO_DASHBOARD_URL", "https://desk.example.com/dash/")
    monkeypatch.setenv("ROBO_DAGSTER_UI_URL", "https://dagster.example.com")
    assert settings.dashboard_page_url("market") == "https://desk.example.com/dash/market"
    assert (
        settings.dagster_asset_url(["portfolio", "positions"])
        == "https://dagster.example.com/assets/portfolio/positions"
    )
    assert (
        settings.dagster_asset_url("market_data/price_bars")
        == "https://dagster.example.com/assets/market_data/price_bars"
    )
    assert settings.dagster_run_url("abc") == "https://dagster.example.com/runs/abc"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DASHBOARD_PORT", "eighty", "DASHBOARD_PORT='eighty' is not a whole number"),
        ("DASHBOARD_PORT", "70000", "DASHBOARD_PORT=70000 must be a TCP port"),
        ("PORT", "0", "PORT=0 must be at least 1"),
        ("ROBO_DASHBOARD_URL", "desk:8501", "ROBO_DASHBOARD_URL='desk:8501' must be an http"),
        ("ROBO_DAGSTER_UI_URL", "ftp://x", "ROBO_DAGSTER_UI_URL='ftp://x' must be an http"),
    ],
)
def test_bad_values_are_refused_with_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        settings.dashboard_url() if "DASH" in name else settings.dagster_ui_url()


def test_unknown_pages_and_empty_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="no dashboard page 'books'"):
        settings.dashboard_page_url("books")
    with pytest.raises(ValueError, match="empty part"):
        settings.dagster_asset_url("portfolio//positions")
