"""The CLI's arguments, its refusals and its tokens: no database needed."""

from __future__ import annotations

import time

import jwt
import pytest

from llm_observatory.api.auth import verify_token
from llm_observatory.cli import main as cli
from llm_observatory.core.settings import ApiSettings

SECRET = "a-test-secret-long-enough-for-hmac-sha256"
CLOSED = "postgresql://postgres:pw@127.0.0.1:1/llm_observatory"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    # No real database: any command that tries to connect fails loudly.
    monkeypatch.setenv("DATABASE_URL", CLOSED)
    for name in ("JWT_SECRET", "JWT_ALGORITHM", "JWT_EXPIRATION"):
        monkeypatch.delenv(name, raising=False)


def _exit_code(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as raised:
        cli.run(argv)
    return raised.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["seed", "--count", "0"], "argument --count: must be greater than 0, got 0"),
        (["seed", "--count", "many"], "argument --count: must be a whole number, got 'many'"),
        (["seed", "--days", "-1"], "argument --days: must be greater than 0"),
        (["token", "--ttl", "-5"], "argument --ttl: must be greater than 0, got -5"),
        (["migrate", "create"], "migrate create needs a NAME"),
        (["migrate", "status", "extra"], "migrate status takes no NAME (got 'extra')"),
        (["migrate", "upgrade"], "argument action: invalid choice: 'upgrade'"),
        (["restore"], "the following arguments are required: path"),
        (["reset", "--yes"], "unrecognized arguments: --yes"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, capsys):
    code, err = _exit_code(argv, capsys)
    assert code == 2
    assert message in err


def test_defaults_parse():
    args = cli.parse_args(["seed"])
    assert (args.count, args.days, args.seed) == (1000, 7.0, 42)
    assert cli.parse_args(["migrate"]).action == "run"
    assert cli.parse_args(["migrate", "create", "add_index"]).name == "add_index"
    assert cli.parse_args(["backup"]).output is None


def test_reset_without_confirm_refuses_before_touching_the_database(capsys):
    # The URL points at a closed port: a connection attempt would say "cannot connect".
    assert cli.run(["reset"]) == 1
    err = capsys.readouterr().err
    assert "Nothing was changed" in err
    assert "reset --confirm" in err
    assert "cannot connect" not in err


def test_unreachable_database_says_which_url_and_what_to_do(capsys):
    assert cli.run(["migrate", "status"]) == 1
    err = capsys.readouterr().err
    assert "postgresql://postgres:***@127.0.0.1:1/llm_observatory" in err
    assert "invoke up" in err
    assert ":pw@" not in err  # the password stays out of messages


def test_token_round_trip(capsys, monkeypatch):
    monkeypatch.setenv("JWT_SECRET", SECRET)
    before = int(time.time())
    assert cli.run(["token", "--subject", "alice", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 120
    assert before <= claims["iat"] <= int(time.time())
    # The API accepts it with the same secret, and no other.
    assert verify_token(token, ApiSettings(jwt_secret=SECRET)) == "alice"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET.upper(), algorithms=["HS256"])


def test_token_lifetime_defaults_to_jwt_expiration(capsys, monkeypatch):
    monkeypatch.setenv("JWT_EXPIRATION", "900")
    assert cli.run(["token"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["sub"] == "developer"
    assert claims["exp"] - claims["iat"] == 900


def test_token_uses_the_configured_algorithm(capsys, monkeypatch):
    monkeypatch.setenv("JWT_ALGORITHM", "HS512")
    monkeypatch.setenv("JWT_SECRET", SECRET * 2)  # HS512 wants 64 bytes
    assert cli.run(["token", "--subject", "bob"]) == 0
    assert jwt.get_unverified_header(capsys.readouterr().out.strip())["alg"] == "HS512"


def test_empty_subject_is_refused(capsys):
    assert cli.run(["token", "--subject", ""]) == 2
    assert "subject must not be empty" in capsys.readouterr().err


def test_invalid_settings_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("BACKUP_KEEP_COUNT", "-1")
    assert cli.run(["token"]) == 2
    assert "backup_keep_count" in capsys.readouterr().err


def test_restore_of_a_missing_file_says_where_backups_are(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert cli.run(["restore", str(tmp_path / "nope.dump")]) == 1
    err = capsys.readouterr().err
    assert "no backup at" in err and "/backups/latest.dump" in err


def test_health_exits_1_when_a_required_service_is_down(capsys, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    for name in ("COLLECTOR", "STORAGE", "API", "GRAFANA", "PROMETHEUS", "JAEGER"):
        monkeypatch.setenv(f"{name}_HEALTH_URL", "http://127.0.0.1:1/health")
    monkeypatch.setenv("HEALTH_TIMEOUT", "1")
    assert cli.run(["health"]) == 1
    out, err = capsys.readouterr()
    assert "database" in out and "DOWN" in out
    assert "required services down: database, redis, collector, storage, api" in err


def test_migrate_create_writes_the_next_numbered_revision(tmp_path, monkeypatch, capsys):
    import shutil

    from llm_observatory.storage import migrate as migrations

    copy = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", copy)
    existing = sorted(p.name for p in (copy / "versions").glob("*.py"))
    head = int(existing[-1][:4])

    assert cli.run(["migrate", "create", "add audit table"]) == 0
    expected = copy / "versions" / f"{head + 1:04d}_add_audit_table.py"
    assert f"created {expected}" in capsys.readouterr().out
    text = expected.read_text()
    assert f"revision: str = '{head + 1:04d}'" in text
    assert f"down_revision: str | None = '{head:04d}'" in text


def test_migrate_create_where_the_package_is_read_only(monkeypatch, capsys):
    from llm_observatory.storage import migrate as migrations

    def refuse(message):
        raise PermissionError(13, "Permission denied", "/opt/venv/.../versions/0003_x.py")

    monkeypatch.setattr(migrations, "create", refuse)
    assert cli.run(["migrate", "create", "x"]) == 1
    assert "uv run llm-observatory migrate create NAME" in capsys.readouterr().err
