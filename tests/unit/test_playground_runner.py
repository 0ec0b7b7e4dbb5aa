"""The playground's pacing, health endpoint and settings, with a stub in place of the apps."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from llm_observatory.sdk.playground import (
    INSTRUMENTATION_DEFAULTS,
    Pacer,
    UsageError,
    main,
    select_scenarios,
    serve_health,
)
from llm_observatory.sdk.scenarios import SCENARIOS, Outcome


class StubPlayground:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.runs: list[str] = []
        self.lock = threading.Lock()

    def run(self, name: str) -> Outcome:
        time.sleep(self.seconds)
        with self.lock:
            self.runs.append(name)
        return Outcome(name, "0" * 32, name != "timeout", self.seconds)


def run_for(pacer: Pacer, seconds: float) -> None:
    threading.Timer(seconds, pacer.stop.set).start()
    pacer.run_forever()


def test_runs_round_robin_at_the_rate():
    stub = StubPlayground()
    pacer = Pacer(stub, ["chat", "agent", "timeout"], rate=20, workers=2)
    run_for(pacer, 1.0)
    assert 17 <= len(stub.runs) <= 22, len(stub.runs)
    assert stub.runs[:6] == ["chat", "agent", "timeout"] * 2
    assert pacer.traces.labels("timeout", "error")._value.get() >= 6


def test_busy_workers_skip_ticks_instead_of_queueing():
    stub = StubPlayground(seconds=0.5)
    pacer = Pacer(stub, ["chat"], rate=20, workers=1)
    run_for(pacer, 1.0)
    assert len(stub.runs) <= 3
    assert pacer.skipped._value.get() >= 10


def test_health_turns_503_when_nothing_finishes():
    pacer = Pacer(StubPlayground(), ["chat"], rate=1, workers=1)
    server = serve_health(pacer, 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(f"{url}/health") as response:
            assert json.load(response)["status"] == "ok"
        pacer.last_finished -= pacer.stale_after + 1
        with pytest.raises(urllib.error.HTTPError) as stalled:
            urllib.request.urlopen(f"{url}/health")
        assert stalled.value.code == 503
        with urllib.request.urlopen(f"{url}/metrics") as response:
            assert b"playground_traces" in response.read()
    finally:
        server.shutdown()


def test_scenario_selection():
    assert select_scenarios([], SCENARIOS) == list(SCENARIOS)
    with pytest.raises(UsageError, match=r"unknown scenario.*bogus"):
        select_scenarios(["chat", "bogus"], SCENARIOS)
    with pytest.raises(UsageError, match=r"rate-limit.*fake provider"):
        select_scenarios(["rate-limit"], ("chat", "timeout"))


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PLAYGROUND_RATE", "0", "PLAYGROUND_RATE"),
        ("PLAYGROUND_RATE", "fast", "PLAYGROUND_RATE"),
        ("PLAYGROUND_SCENARIOS", "chat,bogus", "bogus"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "grpc or http/protobuf"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(monkeypatch, capsys, variable, value, message):
    # main() sets these for the process; monkeypatch puts the environment back.
    for key, default in INSTRUMENTATION_DEFAULTS.items():
        monkeypatch.setenv(key, default)
    monkeypatch.setenv(variable, value)
    assert main(["--once"]) == 2
    assert message in capsys.readouterr().err
