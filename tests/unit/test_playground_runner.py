"""The playground's pacing, its service (health, metrics, stop, exit codes) and settings,
with a stub in place of the apps."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import httpx
import pytest

from llm_observatory.playground.instrumentation import INSTRUMENTATION_DEFAULTS
from llm_observatory.playground.main import UsageError, main, select_scenarios, serve
from llm_observatory.playground.pacer import Pacer
from llm_observatory.playground.scenarios import SCENARIOS, Outcome


class StubPlayground:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.runs: list[str] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()  # cleared: runs hang, as on a provider that hangs
        self.gate.set()

    def run(self, name: str) -> Outcome:
        self.gate.wait()
        time.sleep(self.seconds)
        with self.lock:
            self.runs.append(name)
        return Outcome(name, "0" * 32, name != "timeout", self.seconds)


def run_for(pacer: Pacer, seconds: float) -> None:
    threading.Timer(seconds, pacer.stop.set).start()
    pacer.run_forever()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def test_the_service_answers_health_and_metrics_and_stops_on_sigterm():
    """serve(): the lifecycle's ops listener over the pacer; 503 once nothing finishes."""
    stub = StubPlayground()
    pacer = Pacer(stub, ["chat"], rate=50, workers=1)
    port = free_port()
    seen: dict[str, object] = {}
    served = threading.Event()

    def probe() -> None:
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    seen["ok"] = httpx.get(f"{url}/health").status_code
                    break
                except httpx.HTTPError:
                    time.sleep(0.02)
            seen["metrics"] = httpx.get(f"{url}/metrics").text
            stub.gate.clear()  # the provider hangs: nothing finishes any more ...
            time.sleep(0.2)
            pacer.last_finished -= pacer.stale_after + 1  # ... for longer than allowed
            stalled = httpx.get(f"{url}/health")
            seen["stalled"] = (stalled.status_code, stalled.json())
        finally:
            stub.gate.set()
            if not served.is_set():
                os.kill(os.getpid(), signal.SIGTERM)  # what compose sends on `stop`

    threading.Thread(target=probe).start()
    code = serve(pacer, port)
    served.set()
    assert code == 0
    assert seen["ok"] == 200
    assert "playground_traces_total" in seen["metrics"]
    assert seen["stalled"] == (503, {"status": "degraded", "scenarios": "down"})
    assert stub.runs, "the pacer ran scenarios while serving"


def test_scenarios_that_stop_by_themselves_exit_1():
    pacer = Pacer(StubPlayground(), ["chat"], rate=50, workers=1)

    def broken() -> None:
        raise RuntimeError("a bug in the pacer")

    pacer.run_forever = broken  # type: ignore[method-assign]
    assert serve(pacer, free_port()) == 1


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
