"""A real multi-node Docker Swarm on this machine, and the product's stack deployed on it.

cluster.sh starts three Docker engines, each in its own network namespace, and joins
them into one Swarm; the images are built on the host's engine and loaded into each
node (`docker save | docker load`: no registry). `invoke swarm-up --no-mesh` deploys the
production stack on it as an operator would. Whatever happens, the session ends with
`cluster.sh down`: namespaces, engines, data roots, mounts and cgroups are gone.

Needs root, `ip` (iproute2), `nsenter` and `unshare` (util-linux); where they are
missing the tests skip, and in CI that is a failure. One cluster at a time per machine:
the session holds a lock (two runs would share namespace names and addresses).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from tests.support.compose_stack import ROOT, tasks
from tests.support.swarm_cluster import (
    LOCK,
    NODES,
    OUR_SERVICES,
    REQUIRED,
    STACK,
    Cluster,
    deploy_env,
    images,
    missing_requirements,
)


@pytest.fixture(scope="session")
def cluster(docker) -> Cluster:
    reason = missing_requirements()
    if reason:
        if os.environ.get(REQUIRED):
            pytest.fail(f"{REQUIRED} is set, but the Swarm test {reason}", pytrace=False)
        pytest.skip(f"the multi-node Swarm test {reason}")
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run's cluster: wait for its teardown
        made = Cluster()
        started = time.monotonic()
        made.script("down")  # a run killed half-way must not leave its cluster behind
        try:
            step = time.monotonic()
            made.script("up", str(NODES))
            made.timed("three engines and a Swarm", step)
            yield made
        finally:
            step = time.monotonic()
            made.script("down", timeout=180)
            made.timed("teardown", step)
            made.timed("whole Swarm test", started)


@pytest.fixture(scope="session")
def stack(cluster: Cluster) -> Cluster:
    """The product deployed: database on node 1, its replica on node 2, one collector."""
    step = time.monotonic()
    # What swarm-up deploys, built as it would build it (--build on a one-node Swarm).
    config = tasks.swarm_config_command(STACK, no_mesh=True)
    command = f"{config} build {' '.join(OUR_SERVICES)}"
    build = subprocess.run(
        shlex.split(command),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "COMPOSE_PROJECT_NAME": STACK},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    cluster.timed("build images (host engine)", step)
    step = time.monotonic()
    rendered = subprocess.run(
        [*shlex.split(config), "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COMPOSE_PROJECT_NAME": STACK},
    )
    cluster.script("load", *images(json.loads(rendered.stdout)), timeout=600)
    cluster.timed("load images into three nodes", step)
    labels = {1: ["llmo.database", "llmo.redis"], 2: ["llmo.database-replica"], 3: []}
    for k, names in labels.items():
        if names:
            adds = [arg for name in names for arg in ("--label-add", f"{name}=true")]
            cluster.docker(1, "node", "update", *adds, cluster.hostname(k))
    step = time.monotonic()
    up = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "swarm-up",
            "--no-mesh",
            "--local-images",
            "--timeout",
            "420",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=deploy_env(COLLECTOR_REPLICAS="1", STORAGE_REPLICAS="2", API_REPLICAS="2"),
    )
    cluster.deploy_output = up.stdout + up.stderr
    if up.returncode != 0:
        ps = cluster.docker(1, "stack", "ps", STACK, "--no-trunc", check=False).stdout
        raise AssertionError(f"invoke swarm-up failed:\n{up.stderr[-4000:]}\n{ps[-4000:]}")
    cluster.timed("invoke swarm-up until every task runs", step)
    return cluster
