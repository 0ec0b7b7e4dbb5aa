"""The dev, debug and prod modes, each started for real under its own project name.

Every published port is moved to a free one, so these stacks run beside any other.
Grafana, Jaeger and pgAdmin have no image on machines without a registry, so only our
services and what they depend on are started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from llm_observatory.core.settings import DEVELOPMENT_SECRETS
from tests.support.compose_stack import ROOT, Stack, env_example, free_port, process_start_time
from tests.support.otlp_builders import make_llm_span_request

OUR_SERVICES = ("collector", "storage", "api")
DEBUG_PORTS = {"collector": 5678, "storage": 5679, "api": 5680}
# Every secret the prod stack's preflight checks, each fresh and long enough.
SECRETS = {name: f"s3cret-{name.lower()}-{uuid.uuid4().hex}" for name in DEVELOPMENT_SECRETS}
# Production refuses open OTLP ingest: one key, whose name lands with the rows.
INGEST_KEY = uuid.uuid4().hex
SECRETS["INGEST_API_KEYS"] = f"prod-test:{INGEST_KEY}"


def free_ports() -> dict[str, str]:
    """Every *_PORT variable of .env.example on a free port (DB_PORT/REDIS_PORT too:
    PostgreSQL and Redis listen on them inside the network as well)."""
    return {name: str(free_port()) for name in env_example() if name.endswith("_PORT")}


def present(stack: Stack, names: tuple[str, ...]) -> list[str]:
    config = json.loads(stack.compose("config", "--format", "json").stdout)
    return [name for name in names if name in config["services"]]


@pytest.fixture(scope="module")
def mode_stack(request, docker):
    """A stack in the mode the test module parametrises, torn down after the module."""
    stacks: list[Stack] = []

    def start(mode: str, extra_env: dict[str, str] | None = None) -> Stack:
        stack = Stack(
            mode,
            project=f"llmo-mode-{mode}-{uuid.uuid4().hex[:6]}",
            env={**free_ports(), **(extra_env or {})},
        )
        stacks.append(stack)
        stack.up(*present(stack, OUR_SERVICES), build=True)
        return stack

    yield start
    for stack in stacks:
        if not os.environ.get("LLMO_KEEP_STACK"):
            stack.down()


# --- prod ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod(mode_stack) -> Stack:
    return mode_stack("prod", SECRETS)


def _inspect(stack: Stack, service: str) -> dict:
    container = stack.compose("ps", "-q", service).stdout.strip()
    out = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)[0]


def test_prod_services_are_hardened(prod):
    for service in present(prod, OUR_SERVICES):
        info = _inspect(prod, service)
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert host["CapDrop"] == ["ALL"], service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["RestartPolicy"]["Name"] == "always", service
        assert host["Memory"] > 0 and host["NanoCpus"] > 0, f"{service} has no limits"
        assert info["Config"]["User"] not in ("", "0", "root"), f"{service} runs as root"
        # A name without "=" is a variable compose passed through unset: not in the process.
        env = dict(item.split("=", 1) for item in info["Config"]["Env"] if "=" in item)
        assert env["ENVIRONMENT"] == "production" and env["LOG_FORMAT"] == "json"


def test_prod_publishes_neither_database_nor_redis(prod):
    for service in ("timescaledb", "redis"):
        assert not _inspect(prod, service)["HostConfig"]["PortBindings"], service


def test_prod_stack_ingests_only_with_a_key(prod):
    url = prod.url("collector", 4318, "/v1/traces")
    service = f"prod-{uuid.uuid4().hex[:8]}"
    body = make_llm_span_request(3, service_name=service).SerializeToString()

    def post(headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            url,
            data=body,
            headers={"content-type": "application/x-protobuf", **headers},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post({}) == 401
    assert post({"authorization": "Bearer not-a-key-of-ours"}) == 401
    assert post({"x-api-key": INGEST_KEY}) == 200
    stored = prod.psql(
        f"SELECT count(*), min(ingest_key) FROM spans WHERE service_name = '{service}'",
        prod.var("DB_USER", "postgres"),
        SECRETS["DB_PASSWORD"],
    ).stdout.strip()
    assert stored == "3|prod-test", stored


def test_prod_refuses_development_secrets_and_names_them(prod):
    default_url = "postgresql://llm_observatory_app:app_dev_password@timescaledb:5432/x"
    result = prod.compose(
        "run", "--rm", "--no-deps", "-e", f"DATABASE_URL={default_url}", "storage", check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DB_APP_PASSWORD" in result.stdout + result.stderr


# --- debug ----------------------------------------------------------------------------


def dap_initialize(port: int, timeout: float = 30.0) -> dict:
    """Speak the Debug Adapter Protocol: send `initialize`, return its response."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with sock:
        body = json.dumps(
            {
                "seq": 1,
                "type": "request",
                "command": "initialize",
                "arguments": {
                    "clientID": "pytest",
                    "adapterID": "debugpy",
                    "pathFormat": "path",
                    "linesStartAt1": True,
                    "columnsStartAt1": True,
                },
            }
        ).encode()
        sock.sendall(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        reader = sock.makefile("rb")
        while True:
            headers = {}
            while (line := reader.readline().strip()) != b"":
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            message = json.loads(reader.read(int(headers["content-length"])))
            if message.get("type") == "response" and message.get("request_seq") == 1:
                return message


@pytest.fixture(scope="module")
def debug(mode_stack) -> Stack:
    return mode_stack("debug")


def test_debug_ports_speak_dap(debug):
    for service in present(debug, OUR_SERVICES):
        port = debug.port(service, DEBUG_PORTS[service])
        response = dap_initialize(port)
        assert response["command"] == "initialize"
        assert response["success"] is True, response
        assert response["body"].get("supportsConfigurationDoneRequest") is True


def test_debug_services_still_serve(debug):
    health = debug.service_health()
    for service in present(debug, OUR_SERVICES):
        assert health[service] == "healthy", health


# --- dev ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev(mode_stack) -> Stack:
    return mode_stack("dev")


def test_dev_reloads_a_service_when_its_source_is_saved(dev):
    metrics = dev.url("collector", 9090, "/metrics")
    before = process_start_time(metrics)
    assert before is not None
    source = Path(ROOT, "src/llm_observatory/collector/service.py")
    source.write_text(source.read_text())  # a save without a change
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = process_start_time(metrics)
        if now is not None and now != before:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the collector did not restart after its source was saved")
    dev.wait_healthy("collector", timeout=30)


def test_dev_publishes_database_and_redis_on_localhost(dev):
    for service, variable in (("timescaledb", "DB_PORT"), ("redis", "REDIS_PORT")):
        port = int(dev.env[variable])
        assert dev.port(service, port) == port
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_dev_logs_are_pretty_not_json(dev):
    logs = dev.compose("logs", "--no-log-prefix", "storage").stdout.strip().splitlines()
    assert logs, "storage logged nothing"
    assert not any(line.lstrip().startswith("{") for line in logs[-5:]), logs[-5:]


# --- test runner ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [("tests/unit/test_batching.py -q", 0), ("tests/unit/test_batching.py -k no_such_test", 5)],
    ids=["passes", "no-tests"],
)
def test_test_runner_exit_code_reaches_the_caller(docker, args, expected):
    """`up --abort-on-container-exit --exit-code-from test-runner` reports pytest's verdict."""
    stack = Stack(
        "test", project=f"llmo-runner-{uuid.uuid4().hex[:6]}", env={"TEST_RUNNER_ARGS": args}
    )
    try:
        result = stack.compose(
            "--profile", "runner", "up", "--build", "--abort-on-container-exit",
            "--exit-code-from", "test-runner", "test-runner",
            check=False,
        )  # fmt: skip
    finally:
        stack.down()
    assert result.returncode == expected, result.stdout[-3000:]


def test_dev_seeds_demo_data_once(dev):
    import psycopg

    def spans() -> int:
        with psycopg.connect(dev.database_url(), connect_timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM spans").fetchone()[0]

    dev.compose("up", "--no-deps", "dev-seed")  # what `invoke dev` runs after storage
    seeded = spans()
    assert seeded >= int(dev.env.get("DEV_SEED_COUNT", "2000"))
    second = dev.compose("up", "--no-deps", "dev-seed")
    assert spans() == seeded, "the second start seeded again"
    logs = dev.compose("logs", "--no-log-prefix", "dev-seed").stdout
    assert "nothing seeded" in logs, second.stdout[-2000:]
