"""Security against running stacks: database roles, passwords kept out of statistics and
logs, backups with awkward passwords, and the production stack's preflight, hardening
and bind addresses.

The role checks run against the test stack's database as each role connects. A fresh
TimescaleDB container initialised with every statement logged shows that the init
script keeps passwords out of the log whatever the server's settings. The production
stack runs under a project of its own with loopback-only addresses.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from llm_observatory.core.settings import DEVELOPMENT_SECRETS
from llm_observatory.storage.roles import app_role, readonly_role
from tests.support.compose_stack import ROOT, Stack, env_example, free_port

DB_NAME = os.environ.get("DB_NAME", "llm_observatory")
DB_PORT = os.environ.get("DB_PORT", "5432")
OWNER = (
    os.environ.get("DB_USER", "postgres"),
    os.environ.get("DB_PASSWORD", "postgres_dev_password"),
)
APP = (
    app_role(),
    os.environ.get("DB_APP_PASSWORD", "app_dev_password"),
)
READONLY = (
    readonly_role(),
    os.environ.get("DB_READONLY_PASSWORD", "readonly_dev_password"),
)
GRAFANA_DB_PASSWORD = os.environ.get("GRAFANA_DB_PASSWORD", "grafana_dev_password")
PASSWORDS = {
    "DB_PASSWORD": OWNER[1],
    "DB_APP_PASSWORD": APP[1],
    "DB_READONLY_PASSWORD": READONLY[1],
    "GRAFANA_DB_PASSWORD": GRAFANA_DB_PASSWORD,
}
DENIED = "42501"  # insufficient_privilege


def connect(stack: Stack, role: tuple[str, str]) -> psycopg.Connection:
    port = stack.port("timescaledb", int(DB_PORT))
    user, password = role
    return psycopg.connect(
        host="127.0.0.1", port=port, dbname=DB_NAME, user=user, password=password, autocommit=True
    )


def refused(conn: psycopg.Connection, statement: str) -> str | None:
    """The SQLSTATE a statement fails with, None if it succeeds (then rolled back)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


INSERT_SPAN = (
    "INSERT INTO spans (start_time, end_time, duration_ms, trace_id, span_id, service_name,"
    " name, kind) VALUES (now(), now(), 0, 'sec', 'sec', 'sec', 'sec', 'internal')"
)


@pytest.fixture(scope="module")
def readonly(stack):
    with connect(stack, READONLY) as conn:
        yield conn


@pytest.fixture(scope="module")
def app(stack):
    with connect(stack, APP) as conn:
        yield conn


# --- the read-only role ------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        INSERT_SPAN,
        "UPDATE spans SET name = 'x'",
        "DELETE FROM spans",
        "TRUNCATE spans",
        "CREATE TABLE sec_probe (id int)",
        "CREATE TEMP TABLE sec_probe (id int)",
        "SELECT pg_stat_statements_reset()",
    ],
)
def test_readonly_role_cannot_write_even_with_read_only_transactions_off(readonly, statement):
    readonly.execute("SET default_transaction_read_only = off")
    assert refused(readonly, statement) == DENIED, statement


def test_readonly_role_reads_the_data(readonly):
    assert readonly.execute("SELECT count(*) FROM spans").fetchone()[0] >= 0


def test_readonly_role_is_no_member_of_pg_read_all_stats(readonly):
    member = readonly.execute("SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')")
    assert member.fetchone()[0] is False


def test_readonly_role_sees_no_other_roles_query_text(stack, readonly, app):
    app.execute("SELECT count(*) FROM spans WHERE name = 'a statement of the app role'")
    rows = readonly.execute(
        "SELECT r.rolname, s.query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
    ).fetchall()
    others = [(role, query) for role, query in rows if role != READONLY[0]]
    assert others, "pg_stat_statements shows no other role's statements at all"
    assert {query for _, query in others} <= {"<insufficient privilege>", None}
    for _, query in rows:
        for name, password in PASSWORDS.items():
            assert password not in (query or ""), f"{name} readable in pg_stat_statements"


def test_no_password_ever_reached_pg_stat_statements(stack):
    with connect(stack, OWNER) as owner:
        texts = [row[0] for row in owner.execute("SELECT query FROM pg_stat_statements")]
    assert texts
    for name, password in PASSWORDS.items():
        assert not [text for text in texts if password in text], f"{name} in pg_stat_statements"


def test_no_password_in_the_database_server_log(stack):
    log = stack.compose("logs", "--no-color", "timescaledb").stdout
    assert "database system is ready to accept connections" in log
    for name, password in PASSWORDS.items():
        assert password not in log, f"{name} in the server log"


def test_the_statements_panel_shows_only_the_applications_plannable_statements(readonly, app):
    app.execute("SELECT count(*) FROM spans WHERE service_name = 'panel probe'")
    readonly.execute("SELECT count(*) FROM spans WHERE service_name = 'panel probe'")
    rows = readonly.execute("SELECT role, query FROM monitoring.statement_stats()").fetchall()
    assert {APP[0], READONLY[0]} <= {role for role, _ in rows}
    assert {role for role, _ in rows} <= {APP[0], READONLY[0]}
    assert any("service_name = $1" in query for _, query in rows), "constants not normalised"
    for _, query in rows:
        first = query.lstrip().split(None, 1)[0].lower()
        assert first in {"select", "insert", "update", "delete", "with", "values", "table"}
    # Utility statements keep their text: the role's own SET is there, and not shown.
    own = readonly.execute(
        "SELECT query FROM pg_stat_statements WHERE userid = "
        "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
    ).fetchall()
    assert any(text.upper().startswith("SET ") for (text,) in own)


def test_monitoring_functions_are_for_the_readonly_role_only(app):
    assert refused(app, "SELECT * FROM monitoring.statement_stats()") == DENIED
    assert refused(app, "SELECT * FROM monitoring.connections()") == DENIED


# --- the app role ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE spans SET name = 'x'",
        "DELETE FROM spans",
        "TRUNCATE spans",
        "UPDATE metric_points SET service_name = 'x'",
        "DELETE FROM log_records",
        "SELECT count(*) FROM rejected_records",
        "DELETE FROM rejected_records",
        "SELECT * FROM alembic_version",
        "UPDATE alembic_version SET version_num = 'x'",
        "CREATE TABLE sec_probe (id int)",
    ],
)
def test_app_role_cannot_change_or_read_beyond_what_storage_uses(app, statement):
    assert refused(app, statement) == DENIED, statement


def test_app_role_inserts_and_reads_what_storage_uses(app):
    assert refused(app, INSERT_SPAN) is None
    assert refused(app, "SELECT count(*) FROM spans") is None
    reject = (
        "INSERT INTO rejected_records (signal, reason, record, record_size) "
        "VALUES ('spans', 'probe', '{}', 2)"
    )
    assert refused(app, reject) is None


# --- the init script ---------------------------------------------------------------------


def test_running_the_init_script_again_changes_nothing(stack, readonly):
    before = readonly.execute(
        "SELECT table_name, privilege_type, grantee FROM information_schema.table_privileges "
        "WHERE table_schema = 'public' ORDER BY 1, 2, 3"
    ).fetchall()
    stack.exec(
        "timescaledb",
        "sh",
        "-c",
        'psql -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" '
        "-f /docker-entrypoint-initdb.d/01-init-timescaledb.sql",
    )
    after = readonly.execute(
        "SELECT table_name, privilege_type, grantee FROM information_schema.table_privileges "
        "WHERE table_schema = 'public' ORDER BY 1, 2, 3"
    ).fetchall()
    assert after == before
    assert readonly.execute("SELECT count(*) FROM monitoring.connections()").fetchone()[0] >= 1


def _timescaledb_image() -> str:
    text = (ROOT / "docker-compose.yml").read_text()
    default = text.split("${TIMESCALEDB_IMAGE:-", 1)[1].split("}", 1)[0]
    return os.environ.get("TIMESCALEDB_IMAGE", default)


def test_a_fresh_init_logging_every_statement_logs_no_password(docker):
    """The roles are created with logging and statement tracking off for that session:
    even a server that logs every statement never sees their passwords."""
    tag = uuid.uuid4().hex[:8]
    passwords = {
        "POSTGRES_PASSWORD": f"owner-{tag}-secret",
        "DB_APP_PASSWORD": f"app-{tag}-secret",
        "DB_READONLY_PASSWORD": f"readonly-{tag}-secret",
        "GRAFANA_DB_PASSWORD": f"grafana-{tag}-secret",
        "DB_REPLICATION_PASSWORD": f"replication-{tag}-secret",
    }
    name = f"llmo-sec-init-{tag}"
    env = [f"--env={key}={value}" for key, value in passwords.items()]
    subprocess.run(
        [
            "docker", "run", "--detach", "--name", name,
            "--tmpfs", "/var/lib/postgresql/data:size=512m",
            "--env=PGDATA=/var/lib/postgresql/data/pgdata", f"--env=POSTGRES_DB={DB_NAME}",
            *env,
            "--volume", f"{ROOT / 'docker' / 'init'}:/docker-entrypoint-initdb.d:ro",
            _timescaledb_image(),
            "postgres",
            "-c", "shared_preload_libraries=timescaledb,pg_stat_statements",
            "-c", "pg_stat_statements.track=all",
            "-c", "log_statement=all",
            "-c", "log_min_duration_statement=0",
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    try:
        psql = [
            "docker", "exec", f"--env=PGPASSWORD={passwords['POSTGRES_PASSWORD']}", name,
            "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB_NAME, "-tA", "-c",
        ]  # fmt: skip
        deadline = time.monotonic() + 120
        while subprocess.run([*psql, "SELECT 1"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "the fresh database did not come up"
            time.sleep(1)
        texts = subprocess.run(
            [*psql, "SELECT string_agg(query, E'\\n') FROM pg_stat_statements"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        log = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
        server_log = log.stdout + log.stderr
        assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in server_log  # logging was on
        roles = subprocess.run(
            [*psql, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'llm_observatory_%'"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert roles.strip() == "3"  # app, read-only, replication
        for variable, password in passwords.items():
            assert password not in server_log, f"{variable} in the server log"
            assert password not in texts, f"{variable} in pg_stat_statements"
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", name], capture_output=True)


# --- backups with a password full of URL-reserved characters -----------------------------


def test_backup_with_a_password_holding_url_reserved_characters(stack):
    role = f"llmo_backup_{uuid.uuid4().hex[:6]}"
    password = "b%ck@up:pa/ss#?" + uuid.uuid4().hex[:8]
    url = f"postgresql://{role}:{quote(password, safe='')}@timescaledb:{DB_PORT}/{DB_NAME}"
    with connect(stack, OWNER) as owner:
        owner.execute("SET pg_stat_statements.track_utility = off")
        owner.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        stack.compose("--profile", "tools", "build", "cli")
        tools = Stack(stack.mode, stack.project, env={**stack.env, "DATABASE_URL": url})
        done = tools.compose(
            "--profile", "tools", "run", "--rm", "-T", "cli",
            "backup", "--output", "/backups/reserved-characters.dump",
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "backup written: /backups/reserved-characters.dump" in done.stdout
        listing = stack.compose(
            "--profile", "tools", "run", "--rm", "-T", "--entrypoint", "pg_restore",
            "cli", "--list", "/backups/reserved-characters.dump",
        ).stdout  # fmt: skip
        assert "TABLE public spans" in listing
        assert "monitoring" not in listing  # the init script's schema stays out of dumps
    finally:
        with connect(stack, OWNER) as owner:
            owner.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# --- the production stack ----------------------------------------------------------------

# Every secret production checks, each a fresh random value well above the minimums.
STRONG = {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in DEVELOPMENT_SECRETS}
USER_BIND = "127.0.0.2"  # loopback, but not the operator ports' 127.0.0.1


@pytest.fixture(scope="module")
def prod_stack(docker):
    ports = {name: str(free_port()) for name in env_example() if name.endswith("_PORT")}
    stack = Stack(
        "prod",
        project=f"llmo-sec-prod-{uuid.uuid4().hex[:6]}",
        env={**ports, "BIND_ADDRESS": USER_BIND},
    )
    stack.compose("build", "preflight")
    yield stack
    if not os.environ.get("LLMO_KEEP_STACK"):
        stack.down()


def test_the_preflight_names_every_development_secret(prod_stack):
    result = prod_stack.compose("run", "--rm", "-T", "preflight", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    for name in ("DB_PASSWORD", "JWT_SECRET", "GRAFANA_ADMIN_PASSWORD", "PGADMIN_PASSWORD"):
        assert f"{name} is a development default" in result.stderr, result.stderr


def test_with_development_secrets_no_prod_service_starts(prod_stack):
    result = prod_stack.compose("up", "--detach", "--wait", "timescaledb", check=False)
    assert result.returncode != 0
    assert "preflight" in result.stderr
    running = prod_stack.compose("ps", "--status", "running", "--services").stdout.split()
    assert "timescaledb" not in running


def test_a_short_jwt_secret_is_named(prod_stack):
    env = {**prod_stack.env, **STRONG, "JWT_SECRET": "0123456789abcdef0123456789"}
    result = Stack("prod", prod_stack.project, env=env).compose(
        "run", "--rm", "-T", "preflight", check=False
    )
    assert result.returncode == 2
    assert "JWT_SECRET is 26 bytes long (at least 32)" in result.stderr


# Third-party services and storage, each after the preflight; Prometheus without its
# scrape targets (--no-deps): its own health does not need them.
PROD_SERVICES = ("timescaledb", "redis", "alertmanager", "storage")


@pytest.fixture(scope="module")
def running_prod(prod_stack):
    stack = Stack("prod", prod_stack.project, env={**prod_stack.env, **STRONG})
    monitoring = ("--profile", "monitoring", "up", "--detach", "--wait", "--wait-timeout", "300")
    for services in (("--build", *PROD_SERVICES), ("--no-deps", "prometheus")):
        result = stack.compose(*monitoring, *services, check=False)
        if result.returncode != 0:
            logs = stack.compose("--profile", "monitoring", "logs", "--tail", "40", check=False)
            raise AssertionError(f"prod stack not up:\n{result.stderr}\n{logs.stdout[-6000:]}")
    return stack


def _inspect(stack: Stack, service: str) -> dict:
    container = stack.compose("--profile", "monitoring", "ps", "-q", service).stdout.strip()
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True)
    return json.loads(out.stdout)[0]


def test_prod_services_run_as_configured(running_prod):
    config = json.loads(
        running_prod.compose("--profile", "monitoring", "config", "--format", "json").stdout
    )["services"]
    for service in PROD_SERVICES:
        host = _inspect(running_prod, service)["HostConfig"]
        expected = config[service]
        assert host["ReadonlyRootfs"] is expected.get("read_only", False), service
        assert host["CapDrop"] == ["ALL"], service
        assert sorted(host["CapAdd"] or []) == sorted(expected.get("cap_add", [])), service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["NanoCpus"] > 0 and host["Memory"] > 0, service
    prometheus = _inspect(running_prod, "prometheus")
    assert prometheus["HostConfig"]["ReadonlyRootfs"] is True
    assert "--web.enable-lifecycle" not in prometheus["Args"]


def test_prod_prometheus_refuses_the_lifecycle_api(running_prod):
    url = running_prod.url("prometheus", 9090, "/-/quit")
    request = urllib.request.Request(url, method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=10)
    assert answered.value.code == 403
    assert running_prod.service_health().get("prometheus") == "healthy"


def test_prod_binds_operator_ports_apart_from_bind_address(running_prod):
    bindings = {}
    for service in ("prometheus", "alertmanager", "storage", "timescaledb", "redis"):
        ports = _inspect(running_prod, service)["HostConfig"]["PortBindings"] or {}
        for target, hosts in ports.items():
            bindings[(service, int(target.split("/")[0]))] = {h["HostIp"] for h in hosts}
    # BIND_ADDRESS is USER_BIND: these stay on 127.0.0.1 all the same.
    assert bindings == {("prometheus", 9090): {"127.0.0.1"}, ("alertmanager", 9093): {"127.0.0.1"}}
