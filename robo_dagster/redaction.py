"""Keeping secrets out of every message: logs, exceptions, metadata and tables.

A provider that echoes a key back (in an error body, a URL, a header dump) must not
carry it, whole or in part, into anything robo-dagster writes. ``register_secret``
records a secret's value once it is resolved; ``redact`` replaces any run of
``MIN_RUN`` or more characters of a registered secret, and any token that looks like a
credential (``sk-...``, ``Bearer ...``, an ``APCA-API-...`` header), before any text is
shortened, so that a truncated echo cannot leave a prefix of a key behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MIN_RUN = 8
TOKEN_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE),
    re.compile(
        r"\bAPCA-API-(?:KEY-ID|SECRET-KEY)\b[\"']?\s*[:=]\s*[\"']?[^\s\"',}]+", re.IGNORECASE
    ),
)

_lock = threading.Lock()
_windows: set[str] = set()
_exact: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: from now on ``redact`` removes it and any run of
    ``MIN_RUN`` characters or more of it. Empty values are ignored."""
    if not value:
        return
    with _lock:
        if len(value) < MIN_RUN:
            _exact.add(value)
            return
        _windows.update(value[i : i + MIN_RUN] for i in range(len(value) - MIN_RUN + 1))


def register_exact(value: str | None) -> None:
    """Remember ``value`` to be replaced where it appears whole (a webhook's full URL,
    whose scheme and host alone are no secret)."""
    if value and len(value) > 1:
        with _lock:
            _exact.add(value)


def register_url(url: str | None) -> None:
    """A URL whose path and query are the secret (a webhook): the whole URL and its path
    are replaced where they appear, and any 8-character run of a long path segment or of
    the query, wherever it appears. Its scheme and host are no secret."""
    if not url:
        return
    parsed = urlsplit(url)
    for whole in {url, url.rstrip("/"), parsed.path}:
        if len(whole.strip("/?")) > 0:
            register_exact(whole)
    for part in [*parsed.path.split("/"), parsed.query]:
        if len(part) >= MIN_RUN:
            register_secret(part)


_from_environment = False


def _register_environment() -> None:
    """Every secret the environment configures, once per process: so that a sensor, the
    CLI or a run redacts a key even before the resource that uses it is built."""
    global _from_environment
    if _from_environment:
        return
    _from_environment = True
    from robo_dagster.settings import SECRET_URL_VARIABLES, SECRET_VARIABLES

    for name in SECRET_VARIABLES:
        register_secret(os.environ.get(name))
    _register_api_tokens()
    for name in SECRET_URL_VARIABLES:
        register_url(os.environ.get(name))


def _register_api_tokens() -> None:
    """The API tokens' secret parts only: their names and scopes are no secret, and
    would otherwise be hidden wherever they appear (an audit row's token name)."""
    from pathlib import Path

    from robo_dagster.api.tokens import TOKENS_FILE_VARIABLE, TOKENS_VARIABLE, secrets_in

    texts = [os.environ.get(TOKENS_VARIABLE, "")]
    path = os.environ.get(TOKENS_FILE_VARIABLE)
    if path:
        # An unreadable file: the service refuses to start on it, with the reason.
        with contextlib.suppress(OSError):
            texts.append(Path(path).expanduser().read_text())
    for text in texts:
        for secret in secrets_in(text) if text.strip() else []:
            register_secret(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret run and credential-like token replaced."""
    if not text:
        return text
    _register_environment()
    with _lock:
        windows, exact = set(_windows), set(_exact)
    # Patterns first: a registered secret that shares a run with a header's name must
    # not break the pattern that hides the header's value.
    for pattern in TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    for secret in sorted(exact, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    if windows and len(text) >= MIN_RUN:
        hidden = bytearray(len(text))
        for i in range(len(text) - MIN_RUN + 1):
            if text[i : i + MIN_RUN] in windows:
                hidden[i : i + MIN_RUN] = b"\x01" * MIN_RUN
        if any(hidden):
            parts: list[str] = []
            i = 0
            while i < len(text):
                if hidden[i]:
                    while i < len(text) and hidden[i]:
                        i += 1
                    parts.append(REDACTED)
                else:
                    start = i
                    while i < len(text) and not hidden[i]:
                        i += 1
                    parts.append(text[start:i])
            text = "".join(parts)
    return text


def shorten(text: str, limit: int) -> str:
    """``text`` redacted, then cut to ``limit`` characters (in that order)."""
    clean = redact(text)
    return (
        clean if len(clean) <= limit else clean[:limit] + f"... [{len(clean) - limit} more chars]"
    )
