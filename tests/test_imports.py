"""Loading the code location (every run launch does) leaves out what a run may not need."""

import json
import subprocess
import sys

# The LLM SDKs (about 1 s of imports between them) load only when an LLM analyst is
# asked; TA-Lib only when indicators are computed.
LAZY = ("anthropic", "openai", "talib")


def test_the_definitions_do_not_import_the_llm_sdks_or_talib() -> None:
    code = (
        "import json, sys\n"
        "import robo_dagster.definitions\n"
        f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
