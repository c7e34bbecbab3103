"""No secret reaches a log, an event, a table or a file, not even a piece of it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from robo_dagster import redaction
from robo_dagster.providers import SimulatedMarketData
from robo_dagster.resources import build_resources
from tests.conftest import AS_OF, WATCHLIST, materialize_all
from tests.test_llm_analyst import Scripted, ScriptedServer, _serve

# A realistic long key: 108 characters, as some providers issue them.
LONG_KEY = (
    "sk-ant-api03-"
    + "Q7vT4pL8rW1nB5cZ3hF6dG0aYeK2uS7iO4wE9tR1yU5qP3oA8sD6fH2jLx"
    + "M3nB8vC1xZ4aS7dF0gH2jK5lP9oI6uY3tRw2e"
)
assert len(LONG_KEY) == 108


def pieces(secret: str, text: str) -> list[str]:
    """The 8-character runs of ``secret`` that appear in ``text``."""
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]


def test_any_run_of_eight_characters_is_redacted_before_cutting() -> None:
    redaction.register_secret(LONG_KEY)
    echoed = f"{LONG_KEY[:24]}... is not a valid key"
    assert redaction.redact(echoed) == "[redacted]... is not a valid key"
    assert redaction.redact(f"x{LONG_KEY[40:52]}y") == "x[redacted]y"
    assert redaction.redact("nothing secret here") == "nothing secret here"
    shortened = redaction.shorten(f"error: {LONG_KEY} rejected", 30)
    assert not pieces(LONG_KEY, shortened) and shortened.startswith("error: [redacted] rejected")


@pytest.mark.parametrize(
    "token",
    [
        "sk-proj-abcdefghijklmnop",
        "Bearer abcdefghijklmnopqrst",
        "APCA-API-SECRET-KEY: abcdefghijklmnop",
        'APCA-API-KEY-ID="PKABCDEFGHIJKLMN"',
    ],
)
def test_credential_patterns_are_redacted_unregistered(token: str) -> None:
    redaction.register_secret("xoxb-0123456789-SECRET-TOKEN")  # shares "-SECRET-" with a header
    assert "abcdefgh" not in redaction.redact(f"the server said {token} and more")
    assert "ABCDEFGH" not in redaction.redact(f"the server said {token} and more")


def test_secrets_in_the_environment_are_redacted_in_any_process(tmp_path: Path) -> None:
    """The CLI and the sensors redact a key they never used: from the environment."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-live-" + "Z" * 6 + "envkeyenvkeyenvkey",
        "ROBO_ALERT_WEBHOOK_URL": "https://hooks.example.test/services/T0123456/B0123456/tok3ntok3ntok3n",
    }
    script = (
        "from robo_dagster import redaction\n"
        "print(redaction.redact('k=' + 'ZZZZZZenvkeyenvk' + ' u=/services/T0123456/B0123456/tok3ntok3ntok3n'))\n"
        "print(redaction.redact('see https://hooks.example.test/ for help'))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()
    assert "envkeyenv" not in first and "tok3ntok3n" not in first and "[redacted]" in first
    assert second == "see https://hooks.example.test/ for help"  # the host is no secret


class _EchoingMarket(SimulatedMarketData):
    """A vendor whose fundamentals call fails with the key in its error."""

    def fundamentals(self, symbols: Any) -> Any:
        raise ValueError(f"upstream answered: {LONG_KEY[:40]} (truncated)")


@pytest.fixture()
def echoing_llm() -> Iterator[ScriptedServer]:
    """An OpenAI-compatible server that answers every call with a non-JSON reply that
    starts with the caller's whole key, as a misconfigured proxy does."""
    yield from _serve("openai")


def test_an_echoed_long_key_never_reaches_the_event_log_compute_log_or_duckdb(
    echoing_llm: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", LONG_KEY)
    monkeypatch.setenv("ROBO_ANALYST", "openai")
    monkeypatch.setenv("ROBO_LLM_BASE_URL", echoing_llm.base_url)
    for _ in range(12):  # every attempt and re-ask gets the echo
        echoing_llm.push(Scripted(200, f"{LONG_KEY} is not permitted on this route (proxy)"))
    path = str(tmp_path / "robo.duckdb")
    resources: dict[str, Any] = build_resources(path, as_of=AS_OF, watchlist=WATCHLIST)
    home = tmp_path / "home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home), overrides={"telemetry": {"enabled": False}}) as inst:
        assert materialize_all(resources, sessions=40, instance=inst, raise_on_error=False)
        from robo_dagster.definitions import defs

        # The same echo as an exception out of an asset body, not only a fallback.
        result = materialize(
            [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
            resources={**resources, "market": _EchoingMarket(as_of=AS_OF, watchlist=WATCHLIST)},
            instance=inst,
            selection=AssetSelection.assets(["market_data", "fundamentals"]),
            raise_on_error=False,
        )
        assert not result.success
        logs = "\n".join(str(r) for run in inst.get_runs() for r in inst.all_logs(run.run_id))
    captured = capfd.readouterr()
    assert "fallback" in logs or "stood in" in logs  # the LLM failed and the rules answered
    assert "[redacted]" in logs
    assert not pieces(LONG_KEY, logs)
    assert not pieces(LONG_KEY, captured.out + captured.err)
    for file in [*home.rglob("*"), *tmp_path.glob("robo.duckdb*")]:
        if file.is_file():
            data = file.read_bytes().decode("latin-1")
            assert not pieces(LONG_KEY, data), file
