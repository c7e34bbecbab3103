"""A Slack-compatible incoming-webhook channel for alerts.

The message is ``{"text": ..., "blocks": [...]}``: Slack renders the blocks, and servers
that only read ``text`` (Mattermost, Rocket.Chat, Discord's ``/slack`` endpoint, a plain
HTTP receiver) still get every alert with its severity, asset and check, and message.

The URL is a secret: a Slack webhook's path *is* its token. It is read from
``ROBO_ALERT_WEBHOOK_URL`` through ``dagster.EnvVar`` when a sensor tick is about to send,
kept in a private attribute, and shown everywhere else as its host only (``target``). httpx
logs every request's full URL at INFO, so a logging filter redacts registered webhook URLs
from the ``httpx`` and ``httpcore`` loggers, and any server text that reaches our own log
lines or reports is redacted too.

Timeouts, connection errors, 429 and 5xx are retried (``robo_dagster.call_retries``) with
exponential backoff and full jitter, honouring ``Retry-After`` (clamped, because a sensor
tick has a time budget); other 4xx fail at once. Alerts below the channel's minimum
severity are not sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from dagster import EnvVar

from robo_dagster import redaction, settings
from robo_dagster.call_retries import Backoff, GaveUp, Transient, call_with_retries, retry_after_s
from robo_dagster.monitoring.alerts import Alert, Severity

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 30.0
MAX_ALERTS_PER_MESSAGE = 20
MAX_ERROR_CHARS = 200
EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.ERROR: ":x:",
    Severity.CRITICAL: ":rotating_light:",
}


def redact(text: str) -> str:
    """``text`` with every registered secret removed (``robo_dagster.redaction``)."""
    return redaction.redact(text)


def _register_secret(url: httpx.URL) -> None:
    redaction.register_url(str(url))


class _RedactWebhookUrls(logging.Filter):
    """Rewrites a log record whose text contains a webhook URL; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactWebhookUrls()
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.proxy"):
    if _FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_FILTER)


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``send`` did: alerts delivered, skipped below the minimum, or not delivered."""

    delivered: tuple[Alert, ...] = ()
    skipped: tuple[Alert, ...] = ()
    failed: tuple[Alert, ...] = ()
    attempts: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing that was due failed."""
        return not self.failed


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_line(alert: Alert) -> str:
    """One alert as a line of Slack mrkdwn: emoji, severity, what it is about, message."""
    if alert.asset and alert.check_name:
        subject = f"`{alert.asset}` {alert.check_name}"
    elif alert.asset:
        subject = f"`{alert.asset}`"
    else:
        subject = alert.source
    return (
        f"{EMOJI[alert.severity]} *{alert.severity.name}* {_escape(subject)}: "
        f"{_escape(alert.message)}"
    )


def slack_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """The message for a batch of alerts: a header line, then one section per alert."""
    worst = max(alert.severity for alert in alerts)
    header = f"robo-dagster: {len(alerts)} alert(s), worst {worst.name}"
    lines = [alert_line(alert) for alert in alerts]
    return {
        "text": "\n".join([header, *lines]),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{header}*"}},
            *({"type": "section", "text": {"type": "mrkdwn", "text": line}} for line in lines),
        ],
    }


class WebhookChannel:
    """Posts alerts to a Slack-compatible incoming webhook, with retries.

    ``url`` is a secret and is never exposed: ``repr`` and ``target`` show its host.
    """

    def __init__(
        self,
        url: str,
        min_severity: Severity | str = Severity.WARNING,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError):
            raise ValueError(f"{settings.ALERT_WEBHOOK_URL_VARIABLE} is not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                f"{settings.ALERT_WEBHOOK_URL_VARIABLE} must be an http(s) URL with a host"
            )
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be > 0, retries and backoff >= 0")
        _register_secret(parsed)
        self._url = parsed
        self.min_severity = Severity.parse(min_severity)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    @classmethod
    def from_env(cls) -> WebhookChannel | None:
        """The channel configured by ``ROBO_ALERT_WEBHOOK_URL`` and ``ROBO_ALERT_MIN_SEVERITY``,
        or None when no URL is set. Read at send time, so a changed secret takes effect on the
        next tick without reloading the code location."""
        url = EnvVar(settings.ALERT_WEBHOOK_URL_VARIABLE).get_value()
        if not url or not url.strip():
            return None
        return cls(url, settings.alert_min_severity())

    @property
    def target(self) -> str:
        """The webhook's host: all that logs and reports may show of it."""
        return self._url.host

    def __repr__(self) -> str:
        return f"WebhookChannel(target={self.target!r}, min_severity={self.min_severity.name})"

    def send(self, alerts: Sequence[Alert]) -> DeliveryReport:
        """Post the alerts at or above ``min_severity``, in messages of at most
        ``MAX_ALERTS_PER_MESSAGE``. After a message fails for good the rest are not tried:
        the channel is down, and the caller keeps them for the next attempt."""
        due = [alert for alert in alerts if alert.severity >= self.min_severity]
        skipped = tuple(alert for alert in alerts if alert.severity < self.min_severity)
        if not due:
            return DeliveryReport(skipped=skipped)
        delivered: list[Alert] = []
        attempts = 0
        with httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False) as client:
            for start in range(0, len(due), MAX_ALERTS_PER_MESSAGE):
                chunk = due[start : start + MAX_ALERTS_PER_MESSAGE]
                used, error = self._post(client, slack_payload(chunk))
                attempts += used
                if error is not None:
                    return DeliveryReport(
                        delivered=tuple(delivered),
                        skipped=skipped,
                        failed=tuple(due[start:]),
                        attempts=attempts,
                        error=error,
                    )
                delivered.extend(chunk)
        return DeliveryReport(delivered=tuple(delivered), skipped=skipped, attempts=attempts)

    def _post(self, client: httpx.Client, payload: dict[str, Any]) -> tuple[int, str | None]:
        """One message with retries (``call_retries``): (attempts made, None or why it
        failed for good)."""
        body = json.dumps(payload)
        backoff = Backoff(retries=self.retries, base_s=self.backoff, cap_s=MAX_RETRY_AFTER_S)
        posts: list[None] = []  # one entry per POST, whatever ends the loop

        def post() -> None:
            posts.append(None)
            self._post_once(client, body)

        try:
            call_with_retries(post, backoff, what=f"alert webhook {self.target}", log=logger)
        except GaveUp as exc:
            return len(posts), f"{exc.last.reason} (after {len(posts)} attempt(s))"
        except _Refused as exc:
            return len(posts), str(exc)
        return len(posts), None

    def _post_once(self, client: httpx.Client, body: str) -> None:
        """One POST: returns when delivered; ``Transient`` for what a retry may cure,
        ``_Refused`` for a 4xx other than 429."""
        try:
            response = client.post(
                self._url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.TimeoutException:
            raise Transient(f"timeout after {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise Transient(
                f"connection error ({type(exc).__name__}: {redact(str(exc))})"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        text = " ".join(redact(response.text).split())[:MAX_ERROR_CHARS]
        reason = f"HTTP {status}" + (f": {text}" if text else "")
        if status != 429 and status < 500:
            raise _Refused(reason)
        raise Transient(reason, retry_after=retry_after_s(response.headers, MAX_RETRY_AFTER_S))


class _Refused(Exception):
    """The receiver refused the message: retrying would give the same answer."""
