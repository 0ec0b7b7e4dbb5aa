"""invoke swarm-up / swarm-down / swarm-ps, build --push and push, without an engine.

A recording Context stands in for the shell: each test checks what would be run (and
printed) and what is refused. tests/swarm runs the real thing on three engines.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from invoke import Context, Exit

import tasks
from tests.support import ROOT


class Result:
    def __init__(self, stdout: str = "", ok: bool = True) -> None:
        self.stdout, self.ok, self.exited = stdout, ok, 0 if ok else 1


class Recorder(Context):
    """Runs nothing; answers `docker node ls` and `docker secret inspect` as told."""

    def __init__(self, nodes: int = 1, secrets_exist: bool = False) -> None:
        super().__init__()
        self.commands: list[str] = []
        self.stdin: list[str] = []
        self.nodes, self.secrets_exist = nodes, secrets_exist

    def cd(self, _path):  # type: ignore[no-untyped-def,override]
        return contextlib.nullcontext()

    def run(self, command: str, **kwargs) -> Result:  # type: ignore[override]
        self.commands.append(command)
        if "in_stream" in kwargs:
            self.stdin.append(kwargs["in_stream"].read())
        if command.startswith("docker node ls"):
            rows = [json.dumps({"ID": f"n{i}"}) for i in range(self.nodes)]
            return Result("\n".join(rows), ok=self.nodes > 0)
        if command.startswith("docker node inspect"):
            return Result("{}")
        if command.startswith("docker secret inspect"):
            return Result(ok=self.secrets_exist)
        if "stack.py" in command and "--skip" not in command and ">" not in command:
            return Result("services: {}\n")
        return Result()


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setattr(tasks, "production_secrets", lambda: (True, "fine"))
    monkeypatch.delenv("REGISTRY", raising=False)
    monkeypatch.setattr(tasks, "AIRGAP_ENV", ROOT / "does-not-exist")


def test_swarm_up_refuses_development_secrets(monkeypatch):
    monkeypatch.setattr(tasks, "production_secrets", lambda: (False, "JWT_SECRET is a default"))
    c = Recorder()
    with pytest.raises(Exit, match="JWT_SECRET is a default"):
        tasks.swarm_up(c)
    assert c.commands == []


def test_swarm_up_needs_a_manager(production):
    with pytest.raises(Exit, match="docker swarm init"):
        tasks.swarm_up(Recorder(nodes=0))


def test_several_nodes_need_a_registry_or_local_images(production):
    with pytest.raises(Exit, match="Set REGISTRY"):
        tasks.swarm_up(Recorder(nodes=3))


def test_a_one_node_swarm_gets_every_label_and_local_images(production, monkeypatch):
    secrets = {"st_jwt_secret_abc": "value-of-the-secret"}

    def fake_convert(c, command, **kwargs):  # the converter's secrets file
        if "--secrets-out" in command:
            path = command.split("--secrets-out ")[1].split()[0]
            Path(path).write_text(json.dumps(secrets))
        return Recorder.run(c, command, **kwargs)

    c = Recorder(nodes=1)
    monkeypatch.setattr(c, "run", lambda command, **kw: fake_convert(c, command, **kw))
    tasks.swarm_up(c, stack="st", timeout=0)
    joined = "\n".join(c.commands)
    for label in tasks.SWARM_NODE_LABELS:
        assert f"--label-add {label}=true" in joined
    assert (
        "docker compose --project-name st -f docker-compose.yml -f docker-compose.prod.yml "
        "-f docker-compose.swarm.yml --profile monitoring --profile replica config"
    ) in joined
    assert "--resolve-image never" in joined and "--with-registry-auth" not in joined
    create = next(cmd for cmd in c.commands if cmd.startswith("docker secret create"))
    assert create.endswith(" st_jwt_secret_abc -")  # the value on stdin, not in the command
    assert c.stdin == ["value-of-the-secret"]
    assert "value-of-the-secret" not in joined
    assert any(cmd.startswith("docker stack deploy") and cmd.endswith(" st") for cmd in c.commands)


def test_no_mesh_adds_its_file():
    command = tasks.swarm_config_command("st", no_mesh=True)
    assert command.endswith(f"-f {tasks.SWARM_NO_MESH_FILE} --profile monitoring --profile replica")
    assert tasks.SWARM_NO_MESH_FILE not in tasks.swarm_config_command("st", no_mesh=False)


@pytest.mark.parametrize(
    ("replicas", "done"),
    [("2/2", True), ("1/2", False), ("0/1", False), ("1/1 (max 1 per node)", True), ("3/3", True)],
)
def test_a_service_is_done_when_every_task_runs(replicas, done):
    assert tasks._replicas_done(replicas.split(" ", 1)[0]) is done


def test_push_needs_a_registry(monkeypatch):
    monkeypatch.delenv("REGISTRY", raising=False)
    c = Recorder()
    with pytest.raises(Exit, match="REGISTRY is not set"):
        tasks.push_images(c)
    assert c.commands == []


def test_build_push_builds_then_pushes(monkeypatch):
    monkeypatch.setenv("REGISTRY", "registry.example.com/team/")
    c = Recorder()
    tasks.build(c, mode="prod", push=True)
    assert [cmd.rsplit(" ", 1)[-1] for cmd in c.commands] == ["build", "push"]
    assert all("-f docker-compose.prod.yml" in cmd for cmd in c.commands)


def test_swarm_down_removes_the_stack_and_only_on_request_its_secrets():
    c = Recorder()
    tasks.swarm_down(c, stack="st")
    assert c.commands == ["docker stack rm st"]
    c = Recorder()
    tasks.swarm_down(c, stack="st", secrets=True)
    assert f"--filter label={tasks.SWARM_SECRET_LABEL}=st" in c.commands[1]
