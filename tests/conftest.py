"""Fixtures shared by every test directory."""

from __future__ import annotations

import os

import pytest

from tests.support.compose_stack import (
    Stack,
    docker_available,
    missing_images,
    started,
    worker_project,
)


def _require_docker() -> None:
    """Skip where no engine can be had; in CI a missing engine is a failure, not a skip."""
    reason = docker_available() or (
        f"images not built: {', '.join(missing)} (run bash .ci/airgap-images.sh)"
        if (missing := missing_images())
        else None
    )
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Docker tests, but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker() -> None:
    _require_docker()


@pytest.fixture(scope="session")
def test_stack(docker, worker_id) -> Stack:
    """The isolated test stack, up and healthy; torn down after the session whatever happens.

    Under pytest-xdist every worker gets a stack of its own (its project name ends in
    the worker id; host ports are ephemeral), so parallel workers share no state.
    """
    with started(Stack("test", project=worker_project("", worker_id))) as stack:
        yield stack
