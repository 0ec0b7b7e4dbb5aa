"""Bring the isolated test stack up and down, and talk to it.

Shared by the smoke, integration and end-to-end tests. The stack is the `test` mode of
tasks.py (docker-compose.yml + docker-compose.test-stack.yml under its own project name),
so what the tests exercise is what `invoke up --mode test` starts.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import tasks
from tests.support import ROOT

# Images the test stack runs (Grafana and Jaeger are not among them: see the overlay).
IMAGE_VARIABLES = (
    "TIMESCALEDB_IMAGE",
    "REDIS_IMAGE",
    "PYTHON_IMAGE",
    "PROMETHEUS_IMAGE",
    "ALERTMANAGER_IMAGE",
)


class DockerUnavailable(Exception):
    pass


def env_example() -> dict[str, str]:
    """The variables .env.example documents, with their example values."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def process_start_time(metrics_url: str, timeout: float = 2) -> float | None:
    """`process_start_time_seconds` from a /metrics page; None while it does not answer.

    A hot reload replaces the process, so a new value means the new code is running.
    """
    try:
        body = urllib.request.urlopen(metrics_url, timeout=timeout).read().decode()
    except OSError:
        return None
    match = re.search(r"^process_start_time_seconds (\S+)", body, re.M)
    return float(match.group(1)) if match else None


def docker_available() -> str | None:
    """None when an engine with Compose v2 answers; else the reason it cannot be used."""
    if shutil.which("docker") is None:
        return "no docker client on PATH (bash .ci/docker-engine.sh installs one)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return f"Docker engine not reachable: {info.stderr.strip()[:200]}"
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        return "Docker Compose v2 plugin missing"
    return None


def missing_images() -> list[str]:
    """Images compose would have to pull: a machine without a registry cannot."""
    missing = []
    for variable in IMAGE_VARIABLES:
        image = os.environ.get(variable)
        if image is None:
            continue
        probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if probe.returncode != 0:
            missing.append(f"{variable}={image}")
    return missing


def compose_args(mode: str = "test", project: str | None = None) -> list[str]:
    args = tasks.compose_command(mode, "").split()
    if project:
        args[args.index("--project-name") + 1] = project
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    mode: str = "test"
    project: str | None = None  # default: the mode's project name (tasks.project_name)
    env: dict[str, str] = field(default_factory=dict)  # on top of os.environ

    def compose(self, *args: str, check: bool = True, timeout: float = 600, **kwargs):
        command = [*compose_args(self.mode, self.project), *args]
        print("+", " ".join(command), file=sys.stderr, flush=True)
        kwargs.setdefault("env", {**os.environ, **self.env})
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def up(self, *services: str, build: bool = False) -> None:
        """Start (the given services and their dependencies) and wait for health."""
        args = ["up", "--detach", "--wait", "--wait-timeout", "300"]
        if build:
            args.append("--build")
        result = self.compose(*args, *services, check=False)
        if result.returncode != 0:
            logs = self.compose("logs", "--tail", "80", check=False)
            raise AssertionError(
                f"test stack did not become healthy:\n{result.stderr}\n--- logs ---\n"
                f"{logs.stdout[-8000:]}"
            )

    def down(self) -> None:
        self.compose("--profile", "*", "down", "--volumes", "--remove-orphans", check=False)

    def exec(self, service: str, *command: str, check: bool = True, env: dict | None = None):
        env_args = [f"--env={key}={value}" for key, value in (env or {}).items()]
        return self.compose("exec", "-T", *env_args, service, *command, check=check)

    def psql(self, sql: str, user: str, password: str, check: bool = True):
        """Run SQL over TCP as `user`, the way an application connects."""
        return self.exec(
            "timescaledb",
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            self.var("DB_PORT", "5432"),
            "-U",
            user,
            "-d",
            self.var("DB_NAME", "llm_observatory"),
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
            check=check,
            env={"PGPASSWORD": password},
        )

    def port(self, service: str, container_port: int) -> int:
        """The host port Compose published for a container port."""
        out = self.compose("port", service, str(container_port)).stdout.strip()
        return int(out.rsplit(":", 1)[1])

    def url(self, service: str, container_port: int, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port(service, container_port)}{path}"

    def var(self, name: str, default: str) -> str:
        """A variable as this stack's compose sees it: its own env, then the process's."""
        return self.env.get(name) or os.environ.get(name, default)

    def database_url(self, database: str | None = None) -> str:
        """Superuser URL of the stack's database, from the host."""
        user = self.var("DB_USER", "postgres")
        password = self.var("DB_PASSWORD", "postgres_dev_password")
        name = database or self.var("DB_NAME", "llm_observatory")
        port = self.port("timescaledb", int(self.var("DB_PORT", "5432")))
        return f"postgresql://{user}:{password}@127.0.0.1:{port}/{name}"

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.service_health().get(service) == "healthy":
                return
            time.sleep(0.5)
        raise AssertionError(f"{service} not healthy after {timeout}s: {self.service_health()}")

    def service_health(self) -> dict[str, str]:
        table = self.compose("ps", "--all", "--format", "json").stdout
        return {
            item["Service"]: item.get("Health") or item.get("State", "")
            for item in tasks._parse_ps_json(table)
        }


def worker_project(name: str, worker_id: str) -> str:
    """A project name of the test mode's, one per pytest-xdist worker: no shared state."""
    project = f"{tasks.project_name('test')}{name}"
    return project if worker_id == "master" else f"{project}-{worker_id}"


@contextmanager
def started(stack: Stack, *services: str) -> Iterator[Stack]:
    """The stack up from scratch (a run killed mid-way leaves nothing behind), built,
    healthy; down afterwards whatever happens, unless LLMO_KEEP_STACK is set."""
    stack.down()
    try:
        stack.up(*services, build=True)
        yield stack
    finally:
        if not os.environ.get("LLMO_KEEP_STACK"):
            stack.down()
