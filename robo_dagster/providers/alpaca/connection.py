"""One connection to Alpaca: the keys, the two endpoints, and what each answer means.

Why httpx and not the official ``alpaca-py`` SDK: the SDK's REST client
(``alpaca/common/rest.py``, read at alpaca-py commit bd1fa9e: ``requests``)
sets no timeout, so a server that hangs hangs the step; it retries 429 and 504 itself
with a fixed 3 s wait, reading neither ``Retry-After`` nor ``X-RateLimit-Reset``; and
it would add the ``requests`` stack beside the httpx every other client here uses.
The first two are rules of this project (a hang is a timeout, a 429 waits as told), so
robo-dagster speaks Alpaca's documented wire format directly, with pydantic models of
every response (``models``), and maps each answer onto the provider errors:

- 401 and 403 are ``ProviderAuthError``: one line naming the variables to set, never
  retried;
- 429 is ``ProviderUnavailable`` with the wait from ``Retry-After``, or else from
  ``X-RateLimit-Reset`` (a Unix time);
- 5xx, timeouts and dropped connections are ``ProviderUnavailable``: the step retries
  with its queue's backoff (``robo_dagster.tasks.retries``);
- any other status, a body that is not JSON, or one that does not match the model is a
  ``ProviderError`` quoting Alpaca's message or the offending field.

Pagination follows ``next_page_token`` (or, for account activities, the last id) to
the end and returns nothing unless every page arrived: a failure on page 7 fails the
fetch, never handing a partial frame on.

The keys come only from ``dagster.EnvVar`` (``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``):
they travel in the request headers, are excluded from ``repr``, and are registered with
``robo_dagster.redaction`` so that an echo of them never reaches a log or an error.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeVar

import httpx
import pandas as pd
from dagster import ConfigurableResource
from pydantic import BaseModel, Field, ValidationError

from robo_dagster import redaction, settings
from robo_dagster.call_retries import retry_after_s
from robo_dagster.providers.alpaca.models import Asset
from robo_dagster.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
)

Api = Literal["trading", "data"]
ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_ERROR_CHARS = 300
MAX_PAGES = 10_000
# A Retry-After longer than this is clamped: an asset should not sleep for an hour.
MAX_RETRY_AFTER_S = 300.0
USER_AGENT = "robo-dagster"
ASSET_CACHE_S = 900.0

_assets_lock = threading.Lock()
_assets_cache: dict[str, tuple[float, pd.DataFrame]] = {}


def field_path(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted path: ``bars.AAPL.3.c``."""
    return ".".join(str(part) for part in location) or "(the body)"


def describe_validation(error: ValidationError, limit: int = 3) -> str:
    """The first few problems of a malformed body, each naming its field and value."""
    parts = []
    for problem in error.errors()[:limit]:
        value = repr(problem.get("input"))
        value = value if len(value) <= 60 else value[:60] + "..."
        parts.append(f"field {field_path(problem['loc'])}: {problem['msg']} (got {value})")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class AlpacaConnection(ConfigurableResource):
    """Alpaca's trading and market-data APIs for one paper account.

    Wire ``key_id`` and ``secret_key`` from ``dagster.EnvVar`` (robo_dagster.resources
    does); they are never logged or stored.
    """

    key_id: str = Field(repr=False, description="APCA_API_KEY_ID (use dagster.EnvVar).")
    secret_key: str = Field(repr=False, description="APCA_API_SECRET_KEY (use dagster.EnvVar).")
    trading_url: str = Field(
        default=settings.ALPACA_PAPER_TRADING_URL, description="Trading API root."
    )
    data_url: str = Field(default=settings.ALPACA_DATA_URL, description="Market-data API root.")
    feed: Literal["iex", "sip"] = Field(default="iex", description="Stock data feed.")
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout, seconds.")

    def assets(self) -> pd.DataFrame:
        """Alpaca's active US equities (symbol, name, tradable), cached for 15 minutes per
        account: sensors ask for the universe every few seconds."""
        key = hashlib.sha256(f"{self.trading_url}|{self.key_id}".encode()).hexdigest()
        with _assets_lock:
            cached = _assets_cache.get(key)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        body = self.get_json(
            "trading", "/v2/assets", {"status": "active", "asset_class": "us_equity"}
        )
        assets = parse_list("Alpaca trading API /v2/assets", Asset, body)
        frame = pd.DataFrame(
            {
                "symbol": [a.symbol for a in assets],
                "name": [a.name for a in assets],
                "tradable": [a.tradable and a.status == "active" for a in assets],
            }
        ).drop_duplicates("symbol")
        with _assets_lock:
            _assets_cache[key] = (time.monotonic() + ASSET_CACHE_S, frame)
        return frame

    def _base(self, api: Api) -> str:
        return (self.trading_url if api == "trading" else self.data_url).rstrip("/")

    def _headers(self) -> dict[str, str]:
        redaction.register_secret(self.key_id)
        redaction.register_secret(self.secret_key)
        return {
            "APCA-API-KEY-ID": self.key_id,
            "APCA-API-SECRET-KEY": self.secret_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def client(self) -> httpx.Client:
        """An httpx client with the keys and the timeout; close it (``with``) after use."""
        return httpx.Client(headers=self._headers(), timeout=httpx.Timeout(self.timeout_s))

    def get_json(
        self,
        api: Api,
        path: str,
        params: Mapping[str, Any] | None = None,
        client: httpx.Client | None = None,
    ) -> Any:
        """GET ``path`` and return its decoded JSON, or raise the error its answer means."""
        response = self._send("GET", api, path, params=params, client=client)
        return self._decode(f"Alpaca {api} API {path}", response)

    def post_json(self, api: Api, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        """POST ``body`` as JSON. A 2xx, or a business refusal (an Alpaca error body with a
        ``code``: insufficient buying power, a duplicate ``client_order_id``), comes back
        as (status, decoded body) for the caller to read; anything else raises as a GET's
        answer would. A gateway 401/403 has no ``code`` and stays an auth error."""
        where = f"Alpaca {api} API {path}"
        response = self._send("POST", api, path, body=body)
        if 400 <= response.status_code < 500 and response.status_code not in (401, 429):
            try:
                refusal = response.json()
            except ValueError:
                refusal = None
            if isinstance(refusal, dict) and "code" in refusal:
                return response.status_code, refusal
        return response.status_code, self._decode(where, response)

    def _send(
        self,
        method: str,
        api: Api,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        url = f"{self._base(api)}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        where = f"Alpaca {api} API {path}"
        try:
            if client is None:
                with self.client() as own:
                    return own.request(method, url, params=clean, json=body)
            return client.request(method, url, params=clean, json=body)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(
                f"{where}: no answer within {self.timeout_s:g} s ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"{where}: connection failed ({type(exc).__name__}: "
                f"{redaction.shorten(str(exc), MAX_ERROR_CHARS)})"
            ) from None

    def _decode(self, where: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 300:
            try:
                return response.json()
            except ValueError:
                raise ProviderError(
                    f"{where}: the reply is not JSON: "
                    f"{redaction.shorten(response.text, MAX_ERROR_CHARS)!r}"
                ) from None
        message = self._message(response)
        if status in (401, 403):
            raise ProviderAuthError(
                f"{where} refused the credentials (HTTP {status}: {message}). Set "
                f"{settings.ALPACA_KEY_ID_VARIABLE} and {settings.ALPACA_SECRET_KEY_VARIABLE} "
                "to the keys of your Alpaca paper account"
                + (
                    ", or ROBO_ALPACA_FEED=iex if your plan does not include SIP data"
                    if "data API" in where and self.feed == "sip"
                    else ""
                )
                + "."
            )
        if status == 429:
            wait = retry_after_s(response.headers, MAX_RETRY_AFTER_S)
            raise ProviderUnavailable(
                f"{where}: rate limited (HTTP 429: {message})"
                + (f"; retry in {wait:.0f} s" if wait is not None else ""),
                retry_after=wait,
            )
        if status >= 500:
            raise ProviderUnavailable(f"{where}: server error (HTTP {status}: {message})")
        if status == 404:
            raise ProviderNotFound(f"{where}: HTTP 404: {message}")
        raise ProviderError(f"{where}: HTTP {status}: {message}")

    @staticmethod
    def _message(response: httpx.Response) -> str:
        """Alpaca's error message (``{"code": ..., "message": ...}``), redacted and short."""
        text = response.text
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("message"):
                text = str(body["message"])
        except ValueError:
            pass
        return redaction.shorten(" ".join(text.split()), MAX_ERROR_CHARS) or "no message"

    def get_model(
        self,
        api: Api,
        path: str,
        model: type[ModelT],
        params: Mapping[str, Any] | None = None,
        client: httpx.Client | None = None,
    ) -> ModelT:
        """GET ``path`` and validate the body against ``model``."""
        return parse(f"Alpaca {api} API {path}", model, self.get_json(api, path, params, client))

    def pages(
        self, api: Api, path: str, model: type[ModelT], params: Mapping[str, Any]
    ) -> list[ModelT]:
        """Every page of a ``next_page_token`` listing, in order; all or nothing."""
        collected: list[ModelT] = []
        token: str | None = None
        seen: set[str] = set()
        with self.client() as client:
            for _ in range(MAX_PAGES):
                page = self.get_model(api, path, model, {**params, "page_token": token}, client)
                collected.append(page)
                token = getattr(page, "next_page_token", None)
                if not token:
                    return collected
                if token in seen:
                    raise ProviderError(
                        f"Alpaca {api} API {path}: next_page_token {token!r} came twice"
                    )
                seen.add(token)
        raise ProviderError(f"Alpaca {api} API {path}: more than {MAX_PAGES} pages")

    def listing(
        self, path: str, model: type[ModelT], params: Mapping[str, Any], page_size: int = 100
    ) -> list[ModelT]:
        """Every item of a trading-API listing paged by the last item's id (account
        activities): ``page_token`` is the previous page's last id, and an empty page
        ends the listing. All or nothing."""
        items: list[ModelT] = []
        token: str | None = None
        with self.client() as client:
            for _ in range(MAX_PAGES):
                body = self.get_json(
                    "trading", path, {**params, "page_size": page_size, "page_token": token}, client
                )
                page = parse_list(f"Alpaca trading API {path}", model, body)
                if not page:
                    return items
                items.extend(page)
                token = str(getattr(page[-1], "id", ""))
                if not token:
                    raise ProviderError(f"Alpaca trading API {path}: an item without an id")
        raise ProviderError(f"Alpaca trading API {path}: more than {MAX_PAGES} pages")


def parse(where: str, model: type[ModelT], body: Any) -> ModelT:
    """``body`` validated as ``model``; a mismatch names the field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ProviderError(
            f"{where}: malformed reply: {redaction.redact(describe_validation(exc))}"
        ) from None


def parse_list(where: str, model: type[ModelT], body: Any) -> list[ModelT]:
    """A JSON array of ``model`` items; a mismatch names the item and field."""
    if not isinstance(body, list):
        raise ProviderError(
            f"{where}: malformed reply: expected a JSON array, got {type(body).__name__}"
        )
    return [parse(f"{where} item {i}", model, item) for i, item in enumerate(body)]


def iter_chunks(values: list[str], size: int) -> Iterator[list[str]]:
    """``values`` in consecutive chunks of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
