"""The webhook channel against a real HTTP receiver on 127.0.0.1: delivery, retries, the
minimum severity, a channel that is down, and a URL that never leaks."""

import logging
from pathlib import Path

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
)

from robo_dagster.monitoring import webhook
from robo_dagster.monitoring.alerts import Alert, Severity
from robo_dagster.monitoring.webhook import MAX_ALERTS_PER_MESSAGE, WebhookChannel
from robo_dagster.warehouse import query

from .support import TOKEN, Reply, WebhookReceiver, tick


def fail_check(
    instance: DagsterInstance,
    check: str = "prices_sane",
    severity: AssetCheckSeverity = AssetCheckSeverity.WARN,
    passed: bool = False,
) -> None:
    instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=AssetKey(["market_data", "price_bars"]),
            check_name=check,
            passed=passed,
            severity=severity,
            description="2 bars with <NaN> close & more",
        )
    )


def alert(severity: Severity, n: int = 0) -> Alert:
    return Alert(
        fingerprint=f"check:a:c{n}",
        severity=severity,
        source="check",
        asset="market_data/price_bars",
        check_name=f"c{n}",
        message=f"failure {n}",
    )


def test_a_new_alert_is_delivered_once_as_slack_json(
    instance: DagsterInstance,
    alerts_db: str,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", receiver.url)
    fail_check(instance)
    first = tick(instance)
    assert "webhook 127.0.0.1: 1 sent" in str(first.skip_message)
    [request] = receiver.received
    assert request.path == f"/services/{TOKEN}"
    assert request.headers["content-type"] == "application/json"
    text = request.body["text"]
    assert "*WARNING*" in text and "`market_data/price_bars` prices_sane" in text
    assert "2 bars with &lt;NaN&gt; close &amp; more" in text
    assert [b["type"] for b in request.body["blocks"]] == ["section", "section"]
    [row] = query(
        "select severity, notified_severity, notified_at from monitoring.alerts", database=alerts_db
    ).to_dict("records")
    assert row["notified_severity"] == "WARNING" and row["notified_at"] is not None

    fail_check(instance)  # a repeat is not news
    second = tick(instance, first.cursor)
    assert "1 repeated" in str(second.skip_message) and len(receiver.received) == 1
    fail_check(instance, severity=AssetCheckSeverity.ERROR)  # an escalation is
    tick(instance, second.cursor)
    assert len(receiver.received) == 2 and "*ERROR*" in receiver.received[1].body["text"]


def test_a_server_error_is_retried_with_backoff(
    receiver: WebhookReceiver, sleeps: list[float]
) -> None:
    receiver.push(Reply(500, "oops"), Reply(502, "bad gateway"), Reply(200))
    report = WebhookChannel(receiver.url, backoff=0.5).send([alert(Severity.ERROR)])
    assert report.ok and report.attempts == 3 and len(report.delivered) == 1
    assert sleeps == [0.5, 1.0]
    assert len(receiver.received) == 3


def test_429_honours_retry_after_and_a_client_error_is_not_retried(
    receiver: WebhookReceiver, sleeps: list[float]
) -> None:
    receiver.push(Reply(429, "slow down", {"retry-after": "7"}), Reply(200))
    assert WebhookChannel(receiver.url).send([alert(Severity.ERROR)]).ok
    assert sleeps == [7.0]
    receiver.push(Reply(404, "no_service"))
    report = WebhookChannel(receiver.url).send([alert(Severity.ERROR)])
    assert not report.ok and report.attempts == 1 and report.error == "HTTP 404: no_service"
    assert sleeps == [7.0]


def test_a_refusal_after_a_retry_counts_both_attempts(
    receiver: WebhookReceiver, sleeps: list[float]
) -> None:
    receiver.push(Reply(503, "busy"), Reply(404, "no_service"))
    report = WebhookChannel(receiver.url, backoff=0.1).send([alert(Severity.ERROR)])
    assert not report.ok and report.error == "HTTP 404: no_service"
    assert report.attempts == 2 and sleeps == [0.1]


def test_retries_give_up_after_the_configured_number(
    receiver: WebhookReceiver, sleeps: list[float]
) -> None:
    receiver.push(*[Reply(503, "down")] * 3)
    report = WebhookChannel(receiver.url, retries=2, backoff=0.1).send([alert(Severity.CRITICAL)])
    assert not report.ok and report.attempts == 3 and len(report.failed) == 1
    assert report.error == "HTTP 503: down (after 3 attempt(s))"
    assert sleeps == pytest.approx([0.1, 0.2])


def test_below_the_minimum_severity_nothing_is_sent(
    instance: DagsterInstance,
    alerts_db: str,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = WebhookChannel(receiver.url, min_severity="ERROR")
    report = channel.send([alert(Severity.INFO), alert(Severity.WARNING, 1)])
    assert report.ok and not report.delivered and len(report.skipped) == 2
    assert receiver.received == []

    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("ROBO_ALERT_MIN_SEVERITY", "error")
    fail_check(instance)
    cursor = tick(instance).cursor
    assert receiver.received == []
    assert len(query("select * from monitoring.alerts", database=alerts_db)) == 1
    fail_check(instance, check="price_bars_complete", severity=AssetCheckSeverity.ERROR)
    tick(instance, cursor)
    [request] = receiver.received
    assert (
        "price_bars_complete" in request.body["text"] and "prices_sane" not in request.body["text"]
    )


def test_many_alerts_are_split_into_several_messages(receiver: WebhookReceiver) -> None:
    alerts = [alert(Severity.ERROR, n) for n in range(MAX_ALERTS_PER_MESSAGE + 3)]
    report = WebhookChannel(receiver.url).send(alerts)
    assert len(report.delivered) == len(alerts)
    assert [len(r.body["blocks"]) - 1 for r in receiver.received] == [MAX_ALERTS_PER_MESSAGE, 3]


def test_a_channel_that_is_down_does_not_stop_recording_and_catches_up(
    instance: DagsterInstance,
    alerts_db: str,
    receiver: WebhookReceiver,
    closed_port_url: str,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", closed_port_url)
    fail_check(instance, severity=AssetCheckSeverity.ERROR)
    down = tick(instance)
    assert down.cursor is not None and int(down.cursor) > 0
    assert "1 new" in str(down.skip_message) and "1 pending (connection error" in str(
        down.skip_message
    )
    assert len(sleeps) == 3
    [row] = query("select * from monitoring.alerts", database=alerts_db).to_dict("records")
    assert row["severity"] == "ERROR" and row["notified_severity"] is None

    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", receiver.url)  # the channel is back
    back = tick(instance, down.cursor)
    assert back.cursor == down.cursor and "1 sent" in str(back.skip_message)
    [request] = receiver.received
    assert "prices_sane" in request.body["text"]


def test_a_misconfigured_channel_is_reported_but_alerts_are_recorded(
    instance: DagsterInstance, alerts_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", "ftp://example.com/hook")
    fail_check(instance)
    result = tick(instance)
    assert "webhook misconfigured" in str(result.skip_message) and "1 new" in str(
        result.skip_message
    )
    with pytest.raises(ValueError, match="ROBO_ALERT_WEBHOOK_URL must be an http"):
        WebhookChannel("ftp://example.com/hook")


def test_the_secret_url_never_reaches_logs_reports_or_duckdb(
    instance: DagsterInstance,
    alerts_db: str,
    receiver: WebhookReceiver,
    closed_port_url: str,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs each request's full URL at INFO
    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", receiver.url)
    receiver.push(Reply(500, f"error echoing {receiver.url}"), Reply(200))
    fail_check(instance, severity=AssetCheckSeverity.ERROR)
    first = tick(instance)
    monkeypatch.setenv("ROBO_ALERT_WEBHOOK_URL", closed_port_url)
    fail_check(instance, check="other", severity=AssetCheckSeverity.ERROR)
    second = tick(instance, first.cursor)
    channel = WebhookChannel(receiver.url)
    report = WebhookChannel(closed_port_url).send([alert(Severity.CRITICAL)])

    assert len(receiver.received) == 2 and "HTTP Request" in caplog.text
    assert "retry 1/3" in caplog.text
    captured = capfd.readouterr()
    seen = [
        caplog.text,
        captured.out,
        captured.err,
        str(first.skip_message),
        str(second.skip_message),
        repr(channel),
        channel.target,
        str(report),
    ]
    for text in seen:
        assert TOKEN not in text and "SECRET" not in text
    assert "[redacted]" in caplog.text
    files = [p for p in Path(alerts_db).parent.iterdir() if p.name.startswith("robo.duckdb")]
    for path in files:
        assert b"SECRET" not in path.read_bytes()
    table = query("select * from monitoring.alerts", database=alerts_db)
    assert len(table) == 2
    assert not table.astype(str).apply(lambda column: column.str.contains("SECRET")).any().any()


def test_the_redaction_filter_rewrites_only_webhook_urls(receiver: WebhookReceiver) -> None:
    WebhookChannel(receiver.url)
    assert webhook.redact(f"POST {receiver.url} done") == "POST [redacted] done"
    assert webhook.redact(f"path /services/{TOKEN}") == "path [redacted]"
    assert webhook.redact("nothing to hide") == "nothing to hide"
