"""The errors every provider raises, so that assets and retries treat sources alike."""

from __future__ import annotations


class ProviderError(RuntimeError):
    """A provider could not deliver what was asked (failed, empty or not yet available)."""


class ProviderUnavailable(ProviderError):
    """A transient failure (a timeout, HTTP 429 or 5xx): the same call may succeed later.
    ``retry_after`` is the provider's ``Retry-After`` in seconds, when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownSymbolError(ProviderError, ValueError):
    """A symbol outside the provider's universe was requested."""


class ProviderAuthError(ProviderError):
    """The provider refused the credentials (HTTP 401 or 403). Never retried: the same
    keys get the same answer. The message names the variable to set."""


class ProviderNotFound(ProviderError):
    """The provider has no such thing (HTTP 404): an unknown order id, say."""
