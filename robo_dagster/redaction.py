"""Keeping secrets out of every message: logs, exceptions, metadata and tables.

A provider that echoes a key back (in an error body, a URL, a header dump) must not
carry it, whole or in part, into anything robo-dagster writes. ``register_secret``
records a secret's value once it is resolved; ``redact`` replaces any run of
``MIN_RUN`` or more characters of a registered secret, and any token that looks like a
credential (``sk-...``, ``Bearer ...``, an ``APCA-API-...`` header), before any text is
shortened, so that a truncated echo cannot leave a prefix of a key behind.
"""

from __future__ import annotations

import re
import threading

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
_short: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: from now on ``redact`` removes it and any run of
    ``MIN_RUN`` characters or more of it. Empty values are ignored."""
    if not value:
        return
    with _lock:
        if len(value) < MIN_RUN:
            _short.add(value)
            return
        _windows.update(value[i : i + MIN_RUN] for i in range(len(value) - MIN_RUN + 1))


def redact(text: str) -> str:
    """``text`` with every registered secret run and credential-like token replaced."""
    if not text:
        return text
    with _lock:
        windows, short = set(_windows), set(_short)
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
    for secret in sorted(short, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def shorten(text: str, limit: int) -> str:
    """``text`` redacted, then cut to ``limit`` characters (in that order)."""
    clean = redact(text)
    return (
        clean if len(clean) <= limit else clean[:limit] + f"... [{len(clean) - limit} more chars]"
    )
