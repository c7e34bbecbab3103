"""API tokens: who may call the service, and with which scopes.

``ROBO_API_TOKENS`` (a secret, read through ``dagster.EnvVar``) and the file named by
``ROBO_API_TOKENS_FILE`` hold entries ``name:token:scope,scope``, separated by spaces,
semicolons or new lines (``#`` starts a comment in the file). The scopes are ``read``
(GET and the WebSocket), ``submit`` (orchestrate, tasks, ai) and ``events``. A token is
at least ``MIN_TOKEN_CHARS`` characters: anything shorter is guessable.

Errors name the entry by its position and name, never by its token.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from robo_dagster import redaction

SCOPES = ("read", "submit", "events")
MIN_TOKEN_CHARS = 16
TOKENS_VARIABLE = "ROBO_API_TOKENS"
TOKENS_FILE_VARIABLE = "ROBO_API_TOKENS_FILE"
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TOKEN = re.compile(r"[A-Za-z0-9_.~+/=\-]+")
_SEPARATORS = re.compile(r"[;\s]+")


class TokenConfigError(ValueError):
    """The token configuration cannot be used; the message never contains a token."""


@dataclass(frozen=True)
class ApiToken:
    """One caller: a name for the audit log, its secret, and what it may do."""

    name: str
    secret: str = field(repr=False)
    scopes: frozenset[str]


def _entries(text: str) -> list[str]:
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return [e for line in lines for e in _SEPARATORS.split(line) if e]


def parse_tokens(text: str, origin: str) -> list[ApiToken]:
    """The entries of ``text``; ``origin`` names where they came from in errors."""
    tokens: list[ApiToken] = []
    for number, entry in enumerate(_entries(text), start=1):
        parts = entry.split(":")
        if len(parts) != 3:
            raise TokenConfigError(
                f"{origin}: entry {number} is not name:token:scope[,scope] "
                f"({len(parts)} part(s) separated by ':')"
            )
        name, secret, scope_text = parts
        if not _NAME.fullmatch(name):
            raise TokenConfigError(
                f"{origin}: entry {number}: a name is 1-64 letters, digits, '_', '.' or '-'"
            )
        if len(secret) < MIN_TOKEN_CHARS or not _TOKEN.fullmatch(secret):
            raise TokenConfigError(
                f"{origin}: the token of {name!r} must be at least {MIN_TOKEN_CHARS} characters "
                "of letters, digits and -._~+/= (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        scopes = frozenset(s for s in scope_text.split(",") if s)
        unknown = sorted(scopes - set(SCOPES))
        if not scopes or unknown:
            raise TokenConfigError(
                f"{origin}: {name!r} has unknown or no scopes {', '.join(unknown) or '(none)'}; "
                f"expected some of {', '.join(SCOPES)}"
            )
        tokens.append(ApiToken(name, secret, scopes))
    names = [t.name for t in tokens]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TokenConfigError(f"{origin}: token name(s) {', '.join(twice)} appear twice")
    if len({t.secret for t in tokens}) != len(tokens):
        raise TokenConfigError(f"{origin}: two entries share one token")
    return tokens


def load_tokens() -> list[ApiToken]:
    """Every configured token: ``ROBO_API_TOKENS`` and then ``ROBO_API_TOKENS_FILE``'s."""
    from dagster import EnvVar

    tokens = parse_tokens(EnvVar(TOKENS_VARIABLE).get_value("") or "", TOKENS_VARIABLE)
    path = os.environ.get(TOKENS_FILE_VARIABLE)
    if path:
        try:
            text = Path(path).expanduser().read_text()
        except OSError as exc:
            raise TokenConfigError(
                f"{TOKENS_FILE_VARIABLE}={path}: cannot be read ({exc.strerror})"
            ) from None
        tokens += parse_tokens(text, f"{TOKENS_FILE_VARIABLE}={path}")
    combined = TokenTable(tokens)  # refuses names or tokens repeated across both
    return combined.tokens


def secrets_in(text: str) -> list[str]:
    """The token parts of ``text``'s entries, for redaction; the whole text when it does
    not parse (redacting too much beats leaking a malformed entry)."""
    try:
        return [t.secret for t in parse_tokens(text, "tokens")]
    except TokenConfigError:
        return [text]


class TokenTable:
    """Looks a presented token up in constant time: every configured token is compared,
    whatever matches, so the time taken does not say how much of a guess was right."""

    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self.tokens = list(tokens)
        names = [t.name for t in self.tokens]
        if len(set(names)) != len(names):
            raise TokenConfigError("a token name appears in both ROBO_API_TOKENS and the file")
        if len({t.secret for t in self.tokens}) != len(self.tokens):
            raise TokenConfigError("one token appears in both ROBO_API_TOKENS and the file")
        # The environment is read for secrets once per process, which may be before these
        # tokens were configured: every token the service accepts is redacted from then on.
        for token in self.tokens:
            redaction.register_secret(token.secret)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def match(self, presented: str) -> ApiToken | None:
        """The token ``presented`` is, or None."""
        given = presented.encode()
        found = None
        for token in self.tokens:
            if hmac.compare_digest(token.secret.encode(), given):
                found = token
        return found
