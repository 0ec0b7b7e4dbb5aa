"""The Swarm test's cluster (cluster.sh), its names, and what it deploys with."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from llm_observatory.core.settings import DEVELOPMENT_SECRETS
from tests.support import ROOT

HERE = ROOT / "tests" / "swarm"
CLUSTER = HERE / "cluster.sh"
RUN = Path("/run/llmo-swarm-test")
LOCK = Path("/run/lock/llmo-swarm-test.lock")
NODES = 3
NET = "10.78.0"
STACK = "llmo-swt"
# Images the stack runs here (Grafana, Jaeger, Prometheus and Alertmanager are left out
# by swarm-up: no image on the nodes).
OUR_SERVICES = ("storage", "collector", "api")
DEPLOYED = (
    *OUR_SERVICES,
    "maintenance",
    "timescaledb",
    "timescaledb-replica",
    "redis",
    "mesh-edge",
)
# Set by .ci/run: there, a missing requirement fails the test instead of skipping it.
REQUIRED = "LLMO_REQUIRE_SWARM_TEST"
INGEST_KEY = secrets.token_hex(16)
# Every secret production checks, fresh; ingest needs a key in production.
SECRETS = {name: secrets.token_urlsafe(32) for name in DEVELOPMENT_SECRETS}
SECRETS["INGEST_API_KEYS"] = f"swarm-test:{INGEST_KEY}"


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts, dockerd)"
    for tool in ("ip", "nsenter", "unshare", "dockerd", "docker"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/run installs what is missing)"
    if not Path("/proc/self/ns/net").exists():
        return "no network namespaces in this kernel"
    return None


@dataclass
class Cluster:
    timings: dict[str, float] = field(default_factory=dict)
    deploy_output: str = ""

    @staticmethod
    def node_ip(k: int) -> str:
        return f"{NET}.{10 + k}"

    @staticmethod
    def hostname(k: int) -> str:
        return f"llmosw-node{k}"

    @staticmethod
    def host(k: int) -> str:
        return f"unix://{RUN}/node{k}.sock"

    def docker(self, k: int, *args: str, check: bool = True, timeout: float = 300, **kwargs):
        command = ["docker", "-H", self.host(k), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)}: {result.stdout}{result.stderr}")
        return result

    def script(self, *args: str, timeout: float = 300) -> None:
        result = subprocess.run(
            ["bash", str(CLUSTER), *args], capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)}: {result.stdout}{result.stderr}")

    def timed(self, what: str, start: float) -> None:
        self.timings[what] = time.monotonic() - start
        print(f"swarm test: {what}: {self.timings[what]:.1f}s", file=sys.stderr)


def images(config: dict) -> list[str]:
    """What the nodes need, from the rendered stack: ours and the third-party ones."""
    return sorted({config["services"][name]["image"] for name in DEPLOYED})


def deploy_env(**extra: str) -> dict[str, str]:
    """The environment `invoke swarm-up` runs with against node 1."""
    env = {**os.environ, **SECRETS, **extra}
    env.update(DOCKER_HOST=Cluster.host(1), COMPOSE_PROJECT_NAME=STACK)
    env.pop("REGISTRY", None)
    return env
