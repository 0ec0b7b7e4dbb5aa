"""The dev, debug and prod modes and the test-runner, each started for real under its
own project name (LLMO_TEST_PROJECT's, with the mode and a random suffix).

Every published port is moved to a free one, so these stacks run beside any other.
Grafana, Jaeger and pgAdmin have no image on machines without a registry, so only our
services and what they depend on are started.
"""

from __future__ import annotations

import hashlib
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

import tasks
from llm_observatory.core.settings import DEVELOPMENT_SECRETS
from tests.support.compose_stack import ROOT, Stack, env_example, free_port, process_start_time
from tests.support.dev_source import copy_source
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


def project(mode: str) -> str:
    return f"{tasks.project_name('test')}-{mode}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def mode_stack(request, docker):
    """A stack of one mode (plus extra compose files), torn down after the module."""
    stacks: list[Stack] = []
    modes = pytest.MonkeyPatch()

    def start(
        mode: str, extra_env: dict[str, str] | None = None, extra_files: tuple[str, ...] = ()
    ) -> Stack:
        name = mode
        if extra_files:
            # Stack runs a mode of tasks.py: this one is the mode's files and the extras.
            name = f"{mode}+{uuid.uuid4().hex[:6]}"
            modes.setitem(tasks.MODES, name, [*tasks.MODES[mode], *extra_files])
        stack = Stack(name, project=project(mode), env={**free_ports(), **(extra_env or {})})
        stacks.append(stack)
        stack.up(*present(stack, OUR_SERVICES), build=True)
        return stack

    yield start
    for stack in stacks:
        if not os.environ.get("LLMO_KEEP_STACK"):
            stack.down()
    modes.undo()


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


@pytest.fixture(scope="module")
def debug_on_base(mode_stack) -> Stack:
    """docker-compose.debug.yml on the base file alone: no dev overlay, nothing mounted."""
    return mode_stack("debug-base")


def test_debug_on_the_base_file_serves_and_speaks_dap(debug_on_base):
    health = debug_on_base.service_health()
    for service in present(debug_on_base, OUR_SERVICES):
        assert health[service] == "healthy", health
        response = dap_initialize(debug_on_base.port(service, DEBUG_PORTS[service]))
        assert response["success"] is True, response
    mounts = _inspect(debug_on_base, "collector")["Mounts"]
    assert not [m for m in mounts if m["Destination"] == "/app/src"], mounts


# --- dev ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory):
    """src/ copied out of the checkout: the dev stack mounts this, and tests edit it."""
    return copy_source(tmp_path_factory.mktemp("dev-source"))


@pytest.fixture(scope="module")
def dev(mode_stack, source_copy) -> Stack:
    return mode_stack("dev", extra_files=(str(source_copy.compose_file),))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dev_reloads_a_service_when_its_source_is_saved(dev, source_copy):
    relative = "llm_observatory/collector/main.py"
    checkout = ROOT / "src" / relative
    untouched = _digest(checkout)
    metrics = dev.url("collector", 9090, "/metrics")
    before = process_start_time(metrics)
    assert before is not None
    # New code that says it runs: a line the restarted process prints when it imports.
    marker = f"llmo-reload-{uuid.uuid4().hex}"
    copy = source_copy.module(relative)
    copy.write_text(copy.read_text() + f"\nprint({marker!r}, flush=True)\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = process_start_time(metrics)
        if now is not None and now != before:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the collector did not restart after its source was saved")
    dev.wait_healthy("collector", timeout=60)
    logs = dev.compose("logs", "--no-log-prefix", "collector").stdout
    assert marker in logs, "the restarted collector does not run the saved code"
    assert _digest(checkout) == untouched, "the test wrote into the checkout"


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


def _runner_stack(args: str) -> Stack:
    return Stack("test-runner", project=project("runner"), env={"TEST_RUNNER_ARGS": args})


def test_test_runner_exit_code_reaches_the_caller(docker):
    """`up --abort-on-container-exit --exit-code-from test-runner test-runner` (invoke test
    --in-docker) reports pytest's verdict: a passing selection exits 0."""
    stack = _runner_stack("tests/unit/test_cli_tasks.py -q -k migrate -p no:cacheprovider")
    try:
        result = stack.compose(
            "up", "--build", "--abort-on-container-exit",
            "--exit-code-from", "test-runner", "test-runner",
            check=False,
        )  # fmt: skip
    finally:
        stack.down()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_test_file_runs_the_suite_alone_as_written(docker):
    """`docker compose -f docker-compose.test.yml up --abort-on-container-exit`: the whole
    test stack and the runner; everything stops when the runner is done, with its exit
    code (5: pytest collected no tests), not a stack that keeps running."""
    stack = _runner_stack("tests/unit/test_cli_tasks.py -q -k no_such_test -p no:cacheprovider")
    assert tasks.MODES[stack.mode] == ["docker-compose.test.yml"]
    try:
        stack.compose("build", "test-runner")
        result = stack.compose("up", "--abort-on-container-exit", check=False)
        started = set(stack.service_health())
    finally:
        stack.down()
    assert result.returncode == 5, result.stdout[-3000:] + result.stderr[-2000:]
    assert {"test-runner", "timescaledb", "storage", "collector", "api"} <= started, started


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
