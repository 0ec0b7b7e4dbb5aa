"""cli, backup and pgAdmin as compose defines them; pgAdmin's servers.json (it runs in
tests/smoke/test_pgadmin.py)."""

from __future__ import annotations

import json

from tests.support.compose_files import ROOT, env_example, raw, resolved

BASE = ("docker-compose.yml",)
SERVERS_JSON = ROOT / "docker" / "pgadmin" / "servers.json"


def _service(name: str) -> dict:
    return resolved(BASE)["services"][name]


def test_cli_service_runs_the_cli_image_with_the_owner_url():
    cli = _service("cli")
    assert cli["profiles"] == ["tools"]
    assert cli["build"]["target"] == "cli"
    assert cli["restart"] == "no"
    env = cli["environment"]
    # The owner's parts (CliSettings assembles the URL) and the network's hostnames.
    assert {"DB_USER", "DB_PASSWORD", "DATABASE_URL", "REDIS_PASSWORD"} <= set(env)
    assert (env["DB_HOST"], env["REDIS_HOST"]) == ("timescaledb", "redis")
    assert {"backend", "frontend"} <= set(cli["networks"])
    assert cli["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert any(v["source"] == "backup_data" and v["target"] == "/backups" for v in cli["volumes"])


def test_backup_service_is_a_one_shot_backup_into_the_volume():
    backup = _service("backup")
    assert backup["profiles"] == ["backup"]
    assert backup["build"]["target"] == "cli"
    assert backup["restart"] == "no"
    assert backup["command"] == ["backup"]
    env = backup["environment"]
    for name in ("BACKUP_KEEP_COUNT", "BACKUP_KEEP_DAYS", "BACKUP_S3_BUCKET"):
        assert name in env and name in env_example()
    assert env == _service("cli")["environment"]
    assert any(
        v["source"] == "backup_data" and v["target"] == "/backups" for v in backup["volumes"]
    )


def test_pgadmin_service():
    pgadmin = _service("pgadmin")
    assert pgadmin["profiles"] == ["admin"]
    assert pgadmin["image"] == "dpage/pgadmin4:9.18"
    assert "${PGADMIN_IMAGE:-dpage/pgadmin4:9.18}" in (ROOT / "docker-compose.yml").read_text()
    env = pgadmin["environment"]
    assert env["PGADMIN_DEFAULT_EMAIL"] == env_example()["PGADMIN_EMAIL"]
    assert env["PGADMIN_DEFAULT_PASSWORD"] == env_example()["PGADMIN_PASSWORD"]
    [port] = pgadmin["ports"]
    assert (port["target"], port["published"], port["host_ip"]) == (80, "5050", "127.0.0.1")
    mounts = {v["target"]: v for v in pgadmin["volumes"]}
    assert mounts["/var/lib/pgadmin"]["source"] == "pgadmin_data"
    assert mounts["/pgadmin4/servers.json"]["source"] == str(SERVERS_JSON)
    assert mounts["/pgadmin4/servers.json"]["read_only"] is True
    assert "backend" in pgadmin["networks"]  # the database is only there
    check = pgadmin["healthcheck"]["test"]
    assert check[:2] == ["CMD", "wget"] and check[-1].endswith("/misc/ping")
    assert pgadmin["deploy"]["resources"]["limits"]["memory"]
    assert pgadmin["logging"]["driver"] == "json-file"


def test_servers_json_registers_the_compose_database():
    servers = json.loads(SERVERS_JSON.read_text())["Servers"]
    assert list(servers) == ["1"]
    server = servers["1"]
    for field in ("Name", "Group", "Host", "Port", "MaintenanceDB", "Username", "SSLMode"):
        assert server.get(field) not in (None, ""), f"servers.json lacks {field}"
    db = _service("timescaledb")
    defaults = env_example()
    assert server["Host"] == "timescaledb" == defaults["DB_HOST"]
    assert isinstance(server["Port"], int)
    assert str(server["Port"]) == defaults["DB_PORT"]
    assert f"port={server['Port']}" in db["command"]
    assert server["MaintenanceDB"] == db["environment"]["POSTGRES_DB"] == defaults["DB_NAME"]
    assert server["Username"] == db["environment"]["POSTGRES_USER"] == defaults["DB_USER"]
    assert server["SSLMode"] in {"disable", "allow", "prefer", "require"}


def test_the_test_overlay_gives_pgadmin_an_ephemeral_port():
    overlay = raw(ROOT / "docker-compose.test-stack.yml")["services"]["pgadmin"]
    assert overlay["ports"] == ["${BIND_ADDRESS:-127.0.0.1}:${TEST_PGADMIN_PORT:-}:80"]
