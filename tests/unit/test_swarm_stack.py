"""deploy/swarm/stack.py: a rendered Compose model -> a `docker stack deploy` file + secrets."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import yaml

from tests.support import ROOT

_spec = importlib.util.spec_from_file_location("swarm_stack", ROOT / "deploy/swarm/stack.py")
stack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stack)
SHM = stack.SHM
TMP = "/tmp"  # noqa: S108 - a path inside a container


def model(**services: dict) -> dict:
    return {
        "name": "proj",
        "x-anything": {"a": 1},
        "services": services,
        "networks": {"backend": {"name": "proj_backend", "driver": "overlay", "ipam": {}}},
        "volumes": {"data": {"name": "proj_data"}},
        "secrets": {"db_password": {"name": "db_password", "external": True}},
    }


def db_service(**extra) -> dict:
    service = {
        "image": "db:1",
        "environment": {
            "POSTGRES_PASSWORD": "pa$$word",  # compose writes a literal $ as $$
            "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
            "PGDATA": "/data",
        },
        "secrets": [{"source": "db_password", "target": "/run/secrets/db_password"}],
        "networks": {"backend": None},
    }
    service.update(extra)
    return service


def test_a_file_variable_takes_the_secret_out_of_the_service():
    document, secrets = stack.convert(model(db=db_service()), "st")
    env = document["services"]["db"]["environment"]
    assert "POSTGRES_PASSWORD" not in env and env["POSTGRES_PASSWORD_FILE"]
    [(name, value)] = secrets.items()
    assert value == "pa$word"
    assert name.startswith("st_db_password_") and name == document["secrets"]["db_password"]["name"]
    assert document["secrets"]["db_password"]["external"] is True
    assert document["services"]["db"]["secrets"][0]["target"] == "db_password"
    assert "pa$word" not in yaml.safe_dump(document)


def test_a_changed_value_is_a_new_secret():
    _, first = stack.convert(model(db=db_service()), "st")
    changed = db_service()
    changed["environment"]["POSTGRES_PASSWORD"] = "other"
    _, second = stack.convert(model(db=changed), "st")
    assert set(first) != set(second)


def test_grafanas_double_underscore_file_variables():
    grafana = {
        "image": "grafana:1",
        "environment": {
            "GF_SECURITY_ADMIN_PASSWORD": "admin-secret",
            "GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/grafana_admin",
        },
        "secrets": [{"source": "grafana_admin"}],
    }
    document, secrets = stack.convert(model(grafana=grafana), "st")
    assert list(secrets.values()) == ["admin-secret"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in document["services"]["grafana"]["environment"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(secrets=[]), "which it does not mount"),
        (lambda s: s["environment"].update(POSTGRES_PASSWORD=""), "value is empty"),
        (lambda s: s["environment"].pop("POSTGRES_PASSWORD"), "no service reads it"),
        (lambda s: s.update(network_mode="none"), "network_mode"),
        (lambda s: s.update(shm_size="256m"), "mount a tmpfs at /dev/shm"),
        (
            lambda s: s.update(volumes=[{"type": "bind", "source": "/x", "target": "/y"}]),
            "a node has no checkout",
        ),
    ],
    ids=["unmounted", "empty", "no-value", "network_mode", "shm_size", "bind"],
)
def test_what_swarm_cannot_run_is_refused_with_a_reason(change, message):
    service = db_service()
    change(service)
    with pytest.raises(stack.ConversionError, match=message):
        stack.convert(model(db=service), "st")


def test_two_services_must_agree_on_a_secret():
    other = db_service()
    other["environment"]["POSTGRES_PASSWORD"] = "different"
    with pytest.raises(stack.ConversionError, match="differs"):
        stack.convert(model(db=db_service(), db2=other), "st")


def test_what_the_stack_loader_rejects_or_swarm_ignores_is_left_out():
    service = db_service(
        build={"context": "."},
        profiles=["x"],
        depends_on={"a": {"condition": "service_healthy"}},
        restart="always",
        security_opt=["no-new-privileges:true"],
        shm_size="256m",
        command=None,
        tmpfs=[TMP, "/run/pg:size=64m,mode=1777"],
        volumes=[{"type": "tmpfs", "target": SHM, "tmpfs": {"size": "268435456"}}],
        healthcheck={"test": ["CMD", "true"], "start_interval": "1s", "start_period": "5s"},
        ports=[{"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8080"}],
        deploy={"resources": {"limits": {"cpus": 0.5, "memory": "64M"}}},
        **{"x-extension": 1},
    )
    document, _ = stack.convert(model(db=service), "st")
    converted = document["services"]["db"]
    for key in (
        "build",
        "profiles",
        "depends_on",
        "restart",
        "security_opt",
        "shm_size",
        "command",
        "tmpfs",
        "x-extension",
    ):
        assert key not in converted, key
    assert converted["healthcheck"] == {"test": ["CMD", "true"], "start_period": "5s"}
    assert converted["ports"] == [{"mode": "ingress", "target": 80, "published": 8080}]
    assert converted["deploy"]["resources"]["limits"]["cpus"] == "0.5"
    assert converted["volumes"] == [
        {"type": "tmpfs", "target": SHM, "tmpfs": {"size": 268435456}},
        {"type": "tmpfs", "target": TMP},
        {"type": "tmpfs", "target": "/run/pg", "tmpfs": {"size": 64 * 1024**2, "mode": 0o1777}},
    ]
    assert "name" not in document and not any(k.startswith("x-") for k in document)
    assert document["version"] == stack.STACK_VERSION
    assert document["networks"] == {"backend": {"driver": "overlay"}}  # the stack prefixes
    assert document["volumes"] == {"data": {}}


def test_skipped_services_are_left_out():
    doc = model(db=db_service(), once={"image": "x:1"}, other={"image": "y:1"})
    doc["x-swarm"] = {"skip": ["once"]}
    document, _ = stack.convert(doc, "st", skip=frozenset({"other"}))
    assert set(document["services"]) == {"db"}


def test_configs_are_named_by_their_content(tmp_path):
    path = tmp_path / "prometheus.yml"
    doc = model(db=db_service(configs=[{"source": "prom", "target": "/etc/p.yml"}]))
    doc["configs"] = {"prom": {"name": "proj_prom", "file": str(path)}}
    path.write_text("a")
    first, _ = stack.convert(doc, "st")
    path.write_text("b")
    second, _ = stack.convert(doc, "st")
    assert first["configs"]["prom"]["file"] == str(path)
    assert first["configs"]["prom"]["name"] != second["configs"]["prom"]["name"]
    assert first["configs"]["prom"]["name"].startswith("st_prom_")
    path.unlink()
    with pytest.raises(stack.ConversionError, match="cannot read"):
        stack.convert(doc, "st")


def test_the_command_line_writes_the_stack_file_and_a_private_secrets_file(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin", _Stdin(json.dumps(model(db=db_service()))))
    out = tmp_path / "secrets.json"
    assert stack.main(["--stack", "st", "--secrets-out", str(out)]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert set(document["services"]) == {"db"}
    assert list(json.loads(out.read_text()).values()) == ["pa$word"]
    assert os.stat(out).st_mode & 0o077 == 0


def test_the_command_line_says_why_it_cannot_convert(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", _Stdin(json.dumps(model(db=db_service(secrets=[])))))
    assert stack.main(["--stack", "st"]) == 1
    assert "which it does not mount" in capsys.readouterr().err


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def read(self) -> str:
        return self.text
