"""Configuration read from the environment: every knob a newcomer may turn, in one place.

Only plain settings live here. Secrets (API keys, webhook URLs) never do: they reach
resources through ``dagster.EnvVar`` so that their values stay out of logs and metadata.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import DEFAULT_WATCHLIST

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_PORTFOLIO_FILE = PACKAGE_DIR / "portfolio" / "sample_portfolio.json"
# The schemas the groups write to. A database file must not share a stem with one of
# them: DuckDB then reports "Ambiguous reference to catalog or schema".
SCHEMAS = ("portfolio", "market_data", "ai_analysis", "monitoring", "execution")


def project_root() -> Path:
    """The source checkout when the package runs from one, else the working directory."""
    candidate = PACKAGE_DIR.parent
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


def cache_dir() -> Path:
    """``ROBO_CACHE_DIR``: where computed facts that outlive a process are kept (default
    ``~/.cache/robo-dagster``). Deleting it is always safe."""
    raw = (os.environ.get("ROBO_CACHE_DIR") or "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "robo-dagster"


def duckdb_path() -> str:
    """The warehouse every process reads and writes, as one string: with
    ``ROBO_WAREHOUSE=duckdb`` (the default) the file ``ROBO_DUCKDB_PATH``, or
    ``data/robo.duckdb`` in the project root; with ``ROBO_WAREHOUSE=ducklake`` the lake's
    target (``robo_dagster.warehouse.target``: its Postgres catalog and data folder)."""
    from robo_dagster.warehouse import target

    return target.selected(_duckdb_file)


def _duckdb_file() -> str:
    raw = os.environ.get("ROBO_DUCKDB_PATH") or str(project_root() / "data" / "robo.duckdb")
    path = Path(raw).expanduser()
    if path.stem in SCHEMAS:
        raise ValueError(
            f"ROBO_DUCKDB_PATH={raw!r}: a database file may not be named after one of the schemas "
            f"{SCHEMAS}; DuckDB would find the name ambiguous. Pick another file name."
        )
    return str(path)


MAX_SEED = 2**63 - 1  # the simulator hashes the seed into 64-bit keys


def seed() -> int:
    """``ROBO_SEED``: the simulated market's seed (default 7), from 0 to 2**63 - 1."""
    value = _int_env("ROBO_SEED", 7, minimum=0)
    if value > MAX_SEED:
        raise ValueError(f"ROBO_SEED={value} must be at most {MAX_SEED} (2**63 - 1)")
    return value


def universe_size() -> int:
    """``ROBO_UNIVERSE_SIZE``: grow the universe with generated symbols to this many (0: none)."""
    return _int_env("ROBO_UNIVERSE_SIZE", 0, minimum=0)


def watchlist() -> list[str]:
    """``ROBO_WATCHLIST``: comma-separated tickers watched beside the seed's five."""
    raw = os.environ.get("ROBO_WATCHLIST")
    if raw is None:
        return list(DEFAULT_WATCHLIST)
    return [s.strip().upper() for s in raw.split(",") if s.strip()]


def portfolio_file() -> str:
    """``ROBO_PORTFOLIO_FILE``: the paper broker's portfolio (default: the shipped sample)."""
    return os.environ.get("ROBO_PORTFOLIO_FILE") or str(SAMPLE_PORTFOLIO_FILE)


def as_of() -> str | None:
    """``ROBO_AS_OF``: pin "today" to a date (YYYY-MM-DD) for reproducible runs. A date
    after today (a session that has not happened) or outside the exchange calendar is
    refused with the variable's name."""
    raw = os.environ.get("ROBO_AS_OF")
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"ROBO_AS_OF={raw!r} is not a date of the form YYYY-MM-DD") from exc
    if day > dt.date.today():
        raise ValueError(f"ROBO_AS_OF={raw!r} is after today: that session has not happened yet")
    first = calendar.exchange_calendar().first_session.date()
    if day < first:
        raise ValueError(
            f"ROBO_AS_OF={raw!r} is before the exchange calendar's first session {first}; "
            "set ROBO_HISTORY_START earlier"
        )
    return day.isoformat()


DEFAULT_PRICE_MOVE_THRESHOLD_PCT = 3.0


def price_move_threshold_pct() -> float:
    """``ROBO_PRICE_MOVE_THRESHOLD_PCT``: the intraday move, in percent of the previous
    close, that the price-move sensor treats as an event (default 3.0). Read on every
    tick, so a bad value fails the sensor's tick with this message rather than the
    whole code location's load."""
    name = "ROBO_PRICE_MOVE_THRESHOLD_PCT"
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return DEFAULT_PRICE_MOVE_THRESHOLD_PCT
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number (a percentage such as 3 or 2.5)") from exc
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={raw!r} must be a finite percentage greater than 0")
    return value


DEFAULT_RETRY_BASE_DELAY_S = 1.0


def retry_base_delay_s() -> float:
    """``ROBO_RETRY_BASE_DELAY_S``: the first retry's wait, in seconds (default 1.0); each
    next one is multiplied by the queue's backoff factor."""
    name = "ROBO_RETRY_BASE_DELAY_S"
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return DEFAULT_RETRY_BASE_DELAY_S
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from exc
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={raw!r} must be a finite number of seconds, 0 or more")
    return value


def _int_env(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}")
    return value


# The variables that hold secrets: their values are redacted from every message, in
# every process (``robo_dagster.redaction``), whether or not a resource uses them yet.
SECRET_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    # The DuckLake catalog's (and the Dagster instance's) Postgres password.
    "DAGSTER_PG_PASSWORD",
    "PGPASSWORD",
)
# ROBO_API_TOKENS and ROBO_API_TOKENS_FILE hold secrets too: redaction registers their
# tokens only (``api.tokens.secrets_in``), not the names and scopes beside them.
SECRET_URL_VARIABLES = ("ROBO_ALERT_WEBHOOK_URL",)

ANALYSTS = ("rules", "anthropic", "openai")
API_KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini"}


def analyst() -> str:
    """``ROBO_ANALYST``: rules (default), anthropic or openai (any compatible server)."""
    value = (os.environ.get("ROBO_ANALYST") or "rules").strip().lower()
    if value not in ANALYSTS:
        raise ValueError(f"ROBO_ANALYST={value!r} must be one of {', '.join(ANALYSTS)}")
    return value


def llm_model(provider: str) -> str:
    """``ROBO_LLM_MODEL``: the model name (a default per provider)."""
    return os.environ.get("ROBO_LLM_MODEL") or DEFAULT_MODELS[provider]


def llm_base_url() -> str | None:
    """``ROBO_LLM_BASE_URL``: another endpoint, e.g. Ollama's http://127.0.0.1:11434/v1."""
    return os.environ.get("ROBO_LLM_BASE_URL") or None


def llm_timeout_s() -> float:
    """``ROBO_LLM_TIMEOUT_S``: one LLM request's timeout (default 60 s, 0.1 to 3600)."""
    return _float_env("ROBO_LLM_TIMEOUT_S", 60.0, 0.1, 3600.0)


def llm_max_retries() -> int:
    """``ROBO_LLM_MAX_RETRIES``: retries of a failed LLM request (default 4, 0 or more)."""
    return _int_env("ROBO_LLM_MAX_RETRIES", 4, minimum=0)


def llm_deadline_s() -> float:
    """``ROBO_LLM_DEADLINE_S``: the time one analysis may spend on the LLM, retries and the
    re-ask included (default 120 s, 1 to 86400); then the rules answer."""
    return _float_env("ROBO_LLM_DEADLINE_S", 120.0, 1.0, 86400.0)


# The alert webhook is a secret (its path carries the token): only the variable's name lives
# here; robo_dagster.monitoring.webhook reads the value through dagster.EnvVar when it sends.
ALERT_WEBHOOK_URL_VARIABLE = "ROBO_ALERT_WEBHOOK_URL"
DEFAULT_ALERT_MIN_SEVERITY = "WARNING"


def alert_min_severity() -> str:
    """``ROBO_ALERT_MIN_SEVERITY``: the least severe alert the webhook sends (INFO, WARNING,
    ERROR or CRITICAL; default WARNING). Alerts below it are still recorded in DuckDB."""
    from robo_dagster.monitoring.alerts import Severity

    raw = (os.environ.get("ROBO_ALERT_MIN_SEVERITY") or "").strip()
    if not raw:
        return DEFAULT_ALERT_MIN_SEVERITY
    try:
        return Severity.parse(raw).name
    except ValueError as exc:
        raise ValueError(f"ROBO_ALERT_MIN_SEVERITY={raw!r}: {exc}") from None


MARKET_DATA_SOURCES = ("sim", "alpaca", "files")
BROKERS = ("paper", "alpaca")


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def market_data_source() -> str:
    """``ROBO_MARKET_DATA``: sim (default, the embedded simulator), alpaca or files."""
    return _choice("ROBO_MARKET_DATA", MARKET_DATA_SOURCES, "sim")


def broker_kind() -> str:
    """``ROBO_BROKER``: paper (default, the portfolio file) or alpaca (a paper account)."""
    return _choice("ROBO_BROKER", BROKERS, "paper")


def data_dir() -> str | None:
    """``ROBO_DATA_DIR``: the folder of the files source (bars/, fundamentals.csv, ...).

    Required with ``ROBO_MARKET_DATA=files``; with ``alpaca`` it is optional and supplies
    what Alpaca does not (earnings, fundamentals, sectors). The folder must exist."""
    raw = (os.environ.get("ROBO_DATA_DIR") or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ValueError(f"ROBO_DATA_DIR={raw!r} is not a folder")
    return str(path.resolve())


# Alpaca's own variable names for the credentials. Only the names live here: the values
# reach the Alpaca resources through dagster.EnvVar and are never logged or stored.
ALPACA_KEY_ID_VARIABLE = "APCA_API_KEY_ID"
ALPACA_SECRET_KEY_VARIABLE = "APCA_API_SECRET_KEY"
ALPACA_PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
ALPACA_LIVE_TRADING_URL = "https://api.alpaca.markets"
ALPACA_DATA_URL = "https://data.alpaca.markets"
ALPACA_FEEDS = ("iex", "sip")


def _url(name: str, default: str) -> str:
    raw = (os.environ.get(name) or "").strip() or default
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"{name}={raw!r} must be an http:// or https:// URL")
    return raw.rstrip("/")


def alpaca_trading_url() -> str:
    """``ROBO_ALPACA_TRADING_URL``: the trading API (default: the paper endpoint). The
    live endpoint is refused: robo-dagster trades paper accounts only."""
    url = _url("ROBO_ALPACA_TRADING_URL", ALPACA_PAPER_TRADING_URL)
    if url.rstrip("/") == ALPACA_LIVE_TRADING_URL:
        raise ValueError(
            f"ROBO_ALPACA_TRADING_URL={url!r} is Alpaca's live trading endpoint; robo-dagster "
            f"connects to paper accounts only ({ALPACA_PAPER_TRADING_URL})"
        )
    return url


def alpaca_data_url() -> str:
    """``ROBO_ALPACA_DATA_URL``: the market-data API (default: data.alpaca.markets)."""
    return _url("ROBO_ALPACA_DATA_URL", ALPACA_DATA_URL)


def alpaca_feed() -> str:
    """``ROBO_ALPACA_FEED``: iex (default, free accounts) or sip (all US exchanges)."""
    return _choice("ROBO_ALPACA_FEED", ALPACA_FEEDS, "iex")


def risk_limits() -> dict[str, float]:
    """``ROBO_RISK_LIMITS``: the desk's limits for a broker without a portfolio file (the
    Alpaca broker), as a JSON object of ``RiskLimits`` fields, e.g.
    ``{"max_position_weight": 0.2, "var_95_limit_pct": 0.025}``; unset fields keep their
    defaults. The paper broker reads its limits from the portfolio file instead."""
    import json

    from pydantic import ValidationError

    from robo_dagster.providers.broker import RiskLimits

    raw = (os.environ.get("ROBO_RISK_LIMITS") or "").strip()
    if not raw:
        return RiskLimits().model_dump()
    try:
        return RiskLimits.model_validate_json(raw).model_dump()
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ValueError(f"ROBO_RISK_LIMITS is not a valid set of limits: {exc}") from None


# ---------------------------------------------------------------------------- execution
EXECUTION_MODES = ("off", "dry-run", "paper")


def execution_mode() -> str:
    """``ROBO_EXECUTION``: off (no submission at all), dry-run (the default: record what
    would be sent, send nothing) or paper (send to the broker: the paper broker's orders
    file, or an Alpaca paper account). Live trading does not exist here."""
    return _choice("ROBO_EXECUTION", EXECUTION_MODES, "dry-run")


def _flag(name: str) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name}={raw!r} must be 1/true/yes or 0/false/no")


def trading_halted() -> bool:
    """``ROBO_TRADING_HALTED``: the kill switch. 1, true or yes stops every submission."""
    return _flag("ROBO_TRADING_HALTED")


def host_alerts() -> bool:
    """``ROBO_HOST_ALERTS``: 1, true or yes also alerts on the whole host's CPU and memory
    (``host_cpu_pct``, ``host_memory_pct``), every process on it included. Off by
    default: on a shared host, other work must not page the desk."""
    return _flag("ROBO_HOST_ALERTS")


def _float_env(name: str, default: float, low: float, high: float) -> float:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={raw!r} must be a number from {low:g} to {high:g}")
    return value


def min_order_notional() -> float:
    """``ROBO_MIN_ORDER_NOTIONAL``: the smallest order worth sending, in the account's
    currency (default 100)."""
    return _float_env("ROBO_MIN_ORDER_NOTIONAL", 100.0, 0.0, 1e9)


def max_daily_turnover_pct() -> float:
    """``ROBO_MAX_DAILY_TURNOVER_PCT``: the day's orders together, at most this share of
    equity (default 0.25)."""
    return _float_env("ROBO_MAX_DAILY_TURNOVER_PCT", 0.25, 0.0, 10.0)


def max_order_pct() -> float:
    """``ROBO_MAX_ORDER_PCT``: one order, at most this share of equity (default 0.10)."""
    return _float_env("ROBO_MAX_ORDER_PCT", 0.10, 0.0, 1.0)


def order_type() -> str:
    """``ROBO_ORDER_TYPE``: market (default) or limit (marketable, ``ROBO_LIMIT_SLIPPAGE_BPS``
    through the last close)."""
    return _choice("ROBO_ORDER_TYPE", ("market", "limit"), "market")


def limit_slippage_bps() -> float:
    """``ROBO_LIMIT_SLIPPAGE_BPS``: how far through the last close a limit is set (default 20)."""
    return _float_env("ROBO_LIMIT_SLIPPAGE_BPS", 20.0, 0.0, 1000.0)


def paper_orders_file(database: str | None = None) -> str:
    """``ROBO_PAPER_ORDERS_FILE``: where the paper broker writes the orders it fills.
    Default: beside the portfolio file (``<name>.orders.json``); for the shipped sample,
    which lives inside the package, beside the warehouse (``database``, else
    ``duckdb_path()``; a lake's data folder) instead."""
    raw = (os.environ.get("ROBO_PAPER_ORDERS_FILE") or "").strip()
    if raw:
        return str(Path(raw).expanduser())
    portfolio = Path(portfolio_file()).expanduser()
    folder = portfolio.parent
    if portfolio.resolve().is_relative_to(PACKAGE_DIR):
        from robo_dagster.warehouse.target import side_folder

        folder = side_folder(database or duckdb_path())
    return str(folder / f"{portfolio.stem}.orders.json")


# ---------------------------------------------------------------------------- dashboard
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_DAGSTER_UI_PORT = 3000
# The desk dashboard's pages, by URL path (robo_dagster.dashboard.app serves each at /<page>).
DASHBOARD_PAGES = ("book", "risk", "recommendations", "market", "alerts")


def _port_env(name: str, default: int) -> int:
    value = _int_env(name, default, minimum=1)
    if value > 65535:
        raise ValueError(f"{name}={value} must be a TCP port, from 1 to 65535")
    return value


def dashboard_port() -> int:
    """``DASHBOARD_PORT``: the port the desk dashboard listens on (default 8501)."""
    return _port_env("DASHBOARD_PORT", DEFAULT_DASHBOARD_PORT)


def dashboard_url() -> str:
    """``ROBO_DASHBOARD_URL``: where users reach the desk dashboard (behind a proxy, say);
    else ``http://127.0.0.1:$DASHBOARD_PORT``. No trailing slash."""
    return _url("ROBO_DASHBOARD_URL", f"http://127.0.0.1:{dashboard_port()}")


def dashboard_page_url(page: str) -> str:
    """The URL of one dashboard page, e.g. ``dashboard_page_url("book")``; the pages are
    ``DASHBOARD_PAGES``. An asset's metadata can link back to the page that shows it."""
    if page not in DASHBOARD_PAGES:
        raise ValueError(f"no dashboard page {page!r}; the pages are {', '.join(DASHBOARD_PAGES)}")
    return f"{dashboard_url()}/{page}"


def dagster_ui_url() -> str:
    """``ROBO_DAGSTER_UI_URL``: where users reach the Dagster UI; else
    ``http://127.0.0.1:$PORT`` (default port 3000, as ``make ui``). No trailing slash."""
    return _url(
        "ROBO_DAGSTER_UI_URL", f"http://127.0.0.1:{_port_env('PORT', DEFAULT_DAGSTER_UI_PORT)}"
    )


def dagster_asset_url(key: str | list[str] | tuple[str, ...]) -> str:
    """The Dagster UI's page of one asset: ``<ui>/assets/<key path joined by '/'>``.
    ``key`` is the path as a list, or as a string such as ``"portfolio/positions"``."""
    parts = key.split("/") if isinstance(key, str) else list(key)
    if not parts or any(not part for part in parts):
        raise ValueError(f"asset key {key!r} has an empty part")
    return f"{dagster_ui_url()}/assets/{'/'.join(parts)}"


def dagster_run_url(run_id: str) -> str:
    """The Dagster UI's page of one run: ``<ui>/runs/<run id>``."""
    if not run_id:
        raise ValueError("a run id is needed for its URL")
    return f"{dagster_ui_url()}/runs/{run_id}"
