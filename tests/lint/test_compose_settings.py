"""The compose files and our settings agree: every default is written once, in
core/settings.py, and compose writes a value only where the stack differs on purpose.

For each service we build, every `environment:` entry of every docker-compose*.yml is
one of: a name without a value (passes .env or the shell through; the settings'
default applies), a `<NAME>_FILE` of a secret setting, a variable something else reads
(FOREIGN), or a value listed in DELIBERATE with its reason. Every value must have the
setting's type, and every `${NAME:-fallback}` of a variable our settings read falls
back to the settings' own default unless FALLBACK_DIFFERS says why not.
"""

from __future__ import annotations

import re

import pytest

from tests.support.compose_files import COMPOSE_FILES, ROOT, env_example, raw, resolved
from tests.support.settings_catalog import (
    READERS,
    SERVICE_SETTINGS,
    defaults,
    env_names,
    environment,
    parsed,
    secret_file_names,
)

# Variables compose passes that our settings do not read, and what does.
FOREIGN = {
    "OTEL_EXPORTER_OTLP_PROTOCOL": "the OpenTelemetry SDK in the playground's apps",
    "OTEL_RESOURCE_ATTRIBUTES": "the OpenTelemetry SDK in the playground's apps",
    "OPENAI_BASE_URL": "the openai client in the playground",
    "AWS_ACCESS_KEY_ID": "boto3, for backup uploads",
    "AWS_SECRET_ACCESS_KEY": "boto3, for backup uploads",
    "LOCUST_HOST": "locust (tests/performance/collector_load_test.py)",
    "LOCUST_SPANS_PER_REQUEST": "tests/performance/collector_load_test.py",
    "DEBUGPY_PORT": "core/debug.py",
    "DEBUGPY_WAIT_FOR_CLIENT": "core/debug.py",
    "PYDEVD_WARN_EVALUATION_TIMEOUT": "debugpy",
    "LLMO_TEST_DATABASE_URL": "the integration tests (tests/integration/conftest.py)",
}

# (file, service, variable): why the stack sets a value instead of the default.
DELIBERATE = {
    ("docker-compose.yml", "*", "OTEL_EXPORTER_OTLP_ENDPOINT"): (
        "the stack's services trace themselves to its Jaeger; a process by hand does not"
    ),
    ("docker-compose.yml", "*", "DB_HOST"): "the database's name on the compose network",
    ("docker-compose.yml", "*", "REDIS_HOST"): "Redis's name on the compose network",
    ("docker-compose.yml", "storage", "DATABASE_APP_URL"): "passes .env's app-role URL",
    ("docker-compose.yml", "api", "DATABASE_READONLY_URL"): "passes .env's read-only URL",
    ("docker-compose.yml", "collector", "COLLECTOR_PROCESSES"): (
        "the container is given the cores: two workers; one by hand"
    ),
    ("docker-compose.yml", "api", "GRAPHQL_PLAYGROUND"): (
        "GraphiQL in the developer's stack; off in the code and in production"
    ),
    ("docker-compose.yml", "maintenance", "BUDGETS_FILE"): "where the budgets file is mounted",
    ("docker-compose.dev.yml", "*", "LOG_FORMAT"): "dev mode's logs are for humans",
    ("docker-compose.dev.yml", "*", "LOG_LEVEL"): "dev mode is verbose unless .env says",
    ("docker-compose.dev.yml", "collector", "COLLECTOR_PROCESSES"): (
        "one process: reload and breakpoints act on the process that serves"
    ),
    ("docker-compose.test-stack.yml", "*", "OTEL_EXPORTER_OTLP_ENDPOINT"): (
        "no Jaeger in the test stack: self-tracing off"
    ),
    ("docker-compose.test-stack.yml", "maintenance", "MAINTENANCE_INTERVAL"): (
        "the tests drop the schema and wait for it to come back"
    ),
    ("docker-compose.test-stack.yml", "maintenance", "BUDGET_INTERVAL"): (
        "budgets act within seconds"
    ),
    ("docker-compose.test-stack.yml", "maintenance", "DELETION_POLL_INTERVAL"): (
        "deletions act within seconds"
    ),
    ("docker-compose.prod.yml", "*", "ENVIRONMENT"): "production refuses development secrets",
    ("docker-compose.prod.yml", "*", "LOG_FORMAT"): "json for log shippers, whatever .env says",
    ("docker-compose.prod.yml", "api", "GRAPHQL_PLAYGROUND"): "no GraphiQL in production",
    ("docker-compose.swarm.yml", "api", "DB_READONLY_HOST"): (
        "Swarm runs read replicas: the API reads there first"
    ),
}

# (file, variable): why a `${NAME:-fallback}` is not the settings' default.
FALLBACK_DIFFERS = {
    ("*", "DB_HOST"): "the database's name on the compose network",
    ("*", "REDIS_HOST"): "Redis's name on the compose network",
    ("docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT"): "the stack's Jaeger",
    ("docker-compose.yml", "COLLECTOR_PROCESSES"): "two workers in the stack",
    ("docker-compose.yml", "GRAPHQL_PLAYGROUND"): "GraphiQL in the developer's stack",
    ("docker-compose.dev.yml", "LOG_LEVEL"): "dev mode is verbose unless .env says",
    # Not the setting: the host file compose mounts at the setting's path.
    ("*", "BUDGETS_FILE"): "the host path compose mounts into maintenance",
}

_FALLBACK = re.compile(r"\$\{([A-Z0-9_]+)(:?-)([^${}]*)\}")
_PLAIN = re.compile(r"\$\{[A-Z0-9_]+\}")


def fallback_value(value: str) -> str:
    """The value compose gives an entry when no variable is set (innermost first)."""
    previous = None
    while previous != value:
        previous = value
        value = _FALLBACK.sub(lambda m: m.group(3), value)
    return _PLAIN.sub("", value).replace("$$", "$")


def entries() -> list[tuple[str, str, str, str | None]]:
    """(file, service, variable, value) for every environment entry of our services."""
    found = []
    for path in COMPOSE_FILES:
        for service, spec in (raw(path).get("services") or {}).items():
            if service not in SERVICE_SETTINGS:
                continue
            environment = spec.get("environment") or {}
            if isinstance(environment, list):
                environment = dict(item.partition("=")[::2] for item in environment)
            for variable, value in environment.items():
                found.append((path.name, service, variable, value))
    return found


ENTRIES = entries()


def _deliberate(file: str, service: str, variable: str) -> str | None:
    return DELIBERATE.get((file, service, variable)) or DELIBERATE.get((file, "*", variable))


def test_every_service_we_build_has_its_settings_class_here():
    built = {
        name
        for path in COMPOSE_FILES
        for name, spec in (raw(path).get("services") or {}).items()
        if "build" in spec or "extends" in spec
    }
    assert built <= set(SERVICE_SETTINGS), sorted(built - set(SERVICE_SETTINGS))


@pytest.mark.parametrize(
    ("file", "service", "variable", "value"), ENTRIES, ids=lambda item: str(item)[:40]
)
def test_each_environment_entry_is_read_and_differs_on_purpose(file, service, variable, value):
    cls = SERVICE_SETTINGS[service]
    where = f"{file} {service}: {variable}"
    if variable in FOREIGN:
        return
    if service == "preflight" and variable in defaults_of_check_production():
        return  # `check-production` reads each DEVELOPMENT_SECRETS name itself
    assert cls is not None, f"{where}: nothing of ours reads it; add it to FOREIGN"
    if variable in secret_file_names(cls):
        assert str(value).startswith("/"), f"{where} must name a file"
        return
    assert variable in env_names(cls), f"{where}: {cls.__name__} does not read it"
    if value is None:
        return  # passed through from .env or the shell; the settings' default otherwise
    given = parsed(cls, variable, fallback_value(str(value)))  # the type accepts it
    reason = _deliberate(file, service, variable)
    default = getattr(defaults(cls), env_names(cls)[variable])
    assert reason, (
        f"{where}: {value!r} ({given!r}) where the default is {default!r}: drop the value "
        "(a name alone passes .env through) or list it in DELIBERATE with the reason"
    )


def test_every_deliberate_difference_is_still_in_the_files():
    present = {(file, service, variable) for file, service, variable, _ in ENTRIES}
    present |= {(file, "*", variable) for file, _, variable, _ in ENTRIES}
    stale = sorted(set(DELIBERATE) - present)
    assert not stale, f"listed in DELIBERATE but set nowhere: {stale}"


def defaults_of_check_production() -> set[str]:
    from llm_observatory.core.settings import DEVELOPMENT_SECRETS

    return set(DEVELOPMENT_SECRETS)


def _reader_of(variable: str):
    for cls in READERS:
        if variable in env_names(cls):
            return cls
    return None


def fallbacks() -> list[tuple[str, str, str]]:
    """(file, variable, fallback) for every ${NAME:-fallback} our settings also read."""
    found = []
    for path in [*COMPOSE_FILES, ROOT / "tests" / "smoke" / "compose.replica.yml"]:
        for match in _FALLBACK.finditer(path.read_text()):
            if _reader_of(match.group(1)):
                found.append((path.name, match.group(1), match.group(3)))
    return found


@pytest.mark.parametrize(("file", "variable", "fallback"), fallbacks())
def test_compose_falls_back_to_the_settings_default(file, variable, fallback):
    """Third-party services (TimescaleDB, Redis, Grafana) cannot read our settings:
    their fallbacks repeat ours, and must say the same."""
    if (file, variable) in FALLBACK_DIFFERS or ("*", variable) in FALLBACK_DIFFERS:
        return
    cls = _reader_of(variable)
    default = getattr(defaults(cls), env_names(cls)[variable])
    assert parsed(cls, variable, fallback) == default, (
        f"{file}: ${{{variable}:-{fallback}}} but {cls.__name__}'s default is {default!r}"
    )


def test_every_variable_passed_through_is_in_env_example():
    documented = set(env_example())
    passed = {variable for _, _, variable, value in ENTRIES if value is None}
    missing = sorted(passed - documented)
    assert not missing, f".env.example does not document {missing}"


@pytest.mark.parametrize(
    ("service", "url"),
    [
        (
            "maintenance",
            "postgresql://postgres:postgres_dev_password@timescaledb:5432/llm_observatory",
        ),
        ("cli", "postgresql://postgres:postgres_dev_password@timescaledb:5432/llm_observatory"),
        (
            "storage",
            "postgresql://llm_observatory_app:app_dev_password@timescaledb:5432/llm_observatory",
        ),
        (
            "api",
            "postgresql://llm_observatory_readonly:readonly_dev_password@timescaledb:5432/llm_observatory",
        ),
    ],
)
def test_the_stack_connects_each_service_as_its_role(service, url):
    """What the base stack's service gets from `docker compose config` (no .env) makes
    the URL of its role on the compose network."""
    rendered = resolved(("docker-compose.yml",))["services"][service]["environment"]
    cls = SERVICE_SETTINGS[service]
    given = {name: value for name, value in rendered.items() if value is not None}
    with environment(given):
        settings = cls()
    assert settings.database_url == url
    if hasattr(settings, "redis_url"):
        assert settings.redis_url == "redis://:redis_dev_password@redis:6379/0"


# .env.example's values where they are not the settings' defaults, and why.
ENV_EXAMPLE_DIFFERS = {
    "DB_HOST": "the database's name on the compose network",
    "REDIS_HOST": "Redis's name on the compose network",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "the stack's Jaeger",
    "COLLECTOR_PROCESSES": "what the stack runs",
    "GRAPHQL_PLAYGROUND": "what the developer's stack runs",
    "LOG_FORMAT": "a developer's .env: logs for humans",
    "BACKUP_S3_PREFIX": "a prefix to start from once a bucket is set",
    "BUDGETS_FILE": "the host file compose mounts, not the setting",
}


@pytest.mark.parametrize(
    ("variable", "value"),
    [(name, value) for name, value in env_example().items() if _reader_of(name)],
)
def test_env_example_shows_the_settings_defaults(variable, value):
    cls = _reader_of(variable)
    default = getattr(defaults(cls), env_names(cls)[variable])
    if variable in ENV_EXAMPLE_DIFFERS:
        assert parsed(cls, variable, value) != default, f"{variable}: no longer differs"
        return
    assert parsed(cls, variable, value) == default, (
        f".env.example: {variable}={value} but {cls.__name__}'s default is {default!r}"
    )
