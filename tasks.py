"""Tasks for the LLM Observatory stack: `invoke --list` lists them, `invoke --help TASK` explains.

Every task that touches the stack goes through `compose()`, which builds one
`docker compose --project-name … -f … -f …` command from the file list of a mode and
prints it before running it, so whatever a task does can be repeated by hand.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from invoke import Context, Exit, task

from llm_observatory.core.connection_settings import OwnerDatabase
from llm_observatory.core.settings import DEVELOPMENT_SECRETS

ROOT = Path(__file__).resolve().parent

# One named list of compose files per mode. Later files override earlier ones.
MODES: dict[str, list[str]] = {
    "base": ["docker-compose.yml"],
    "dev": ["docker-compose.yml", "docker-compose.dev.yml"],
    "debug": ["docker-compose.yml", "docker-compose.dev.yml", "docker-compose.debug.yml"],
    # debugpy without dev mode: the source the dev image was built with, nothing mounted.
    "debug-base": ["docker-compose.yml", "docker-compose.debug.yml"],
    "prod": ["docker-compose.yml", "docker-compose.prod.yml"],
    # The isolated stack the smoke and integration tests start.
    "test": ["docker-compose.yml", "docker-compose.test-stack.yml"],
    # That stack plus the test-runner: docker-compose.test.yml includes the other two.
    "test-runner": ["docker-compose.test.yml"],
}
DEFAULT_PROJECT = "llm-observatory"
# The test stack is a separate project: a test run never touches development data.
TEST_PROJECT = "llm-observatory-test"
TEST_MODES = {"test", "test-runner"}

# Stand-in images for machines that cannot pull (see .ci/airgap-images.sh).
AIRGAP_ENV = ROOT / ".ci" / "airgap.env"

# Service -> what a person opens, per container port: {host} and {port} are the
# published ones, read from `docker compose ps`.
SERVICE_URLS: dict[str, list[tuple[int, str]]] = {
    "collector": [(4318, "http://{host}:{port}/v1/traces"), (4317, "grpc {host}:{port}")],
    "storage": [(8080, "http://{host}:{port}/health")],
    # The web UI first: it is what a person opens; then the API's docs.
    "api": [
        (8080, "http://{host}:{port}/"),
        (8080, "http://{host}:{port}/docs"),
        (8080, "http://{host}:{port}/graphql"),
    ],
    "grafana": [(3000, "http://{host}:{port}")],
    "prometheus": [(9090, "http://{host}:{port}")],
    "alertmanager": [(9093, "http://{host}:{port}")],
    "jaeger": [(16686, "http://{host}:{port}")],
    "pgadmin": [(80, "http://{host}:{port}")],
}
# Ports the stack publishes by default, checked by `invoke doctor`.
PLAN_PORTS = {
    "COLLECTOR_OTLP_GRPC_PORT": 4317,
    "COLLECTOR_OTLP_HTTP_PORT": 4318,
    "COLLECTOR_METRICS_PORT": 9091,
    "STORAGE_API_PORT": 8081,
    "STORAGE_METRICS_PORT": 9092,
    "API_PORT": 8080,
    "API_METRICS_PORT": 9093,
    "GRAFANA_PORT": 3000,
    "PROMETHEUS_PORT": 9090,
    "ALERTMANAGER_PORT": 9094,
    "JAEGER_UI_PORT": 16686,
}
# Published only in dev mode (and debug, which builds on it).
DEV_ONLY_PORTS = {"STORAGE_API_PORT", "STORAGE_METRICS_PORT"}

MODE_HELP = f"compose file set: {', '.join(MODES)} (default: base)"


def _load_env() -> None:
    """Make .env and the stand-in overrides visible to tasks as compose sees them."""
    try:
        from dotenv import load_dotenv
    except ImportError:  # invoke without the dev group: compose still reads .env itself
        return
    if AIRGAP_ENV.exists():
        # Stand-ins win over .env pins, never over what the shell exported.
        load_dotenv(AIRGAP_ENV, override=False)
    load_dotenv(ROOT / ".env", override=False)


_load_env()


def project_name(mode: str) -> str:
    if mode in TEST_MODES:
        return os.environ.get("LLMO_TEST_PROJECT", TEST_PROJECT)
    return os.environ.get("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT)


def compose_files(mode: str) -> list[str]:
    if mode not in MODES:
        raise Exit(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}", code=2)
    return MODES[mode]


def compose_command(mode: str, args: str) -> str:
    files = " ".join(f"-f {name}" for name in compose_files(mode))
    return f"docker compose --project-name {project_name(mode)} {files} {args}".strip()


def compose_profiles(args: str) -> list[str]:
    """The profiles a compose command enables: its --profile flags and COMPOSE_PROFILES."""
    try:
        words = shlex.split(args)
    except ValueError:  # an unbalanced quote: compose itself will say so
        words = args.split()
    named = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--profile"]
    named += [word.split("=", 1)[1] for word in words if word.startswith("--profile=")]
    from_env = [name for name in os.environ.get("COMPOSE_PROFILES", "").split(",") if name]
    return list(dict.fromkeys(named + from_env))


def compose_summary(mode: str, args: str) -> str:
    """Which files and profiles a command of this mode uses, in words.

    `-f` wins over COMPOSE_FILE, so a COMPOSE_FILE from .env (dev mode in .env.example)
    applies to plain `docker compose`, never to a task: say so when they differ.
    """
    files = compose_files(mode)
    profiles = compose_profiles(args)
    summary = (
        f"mode {mode}, project {project_name(mode)}: files {' + '.join(files)}; "
        f"profiles {', '.join(profiles) if profiles else 'none'}"
    )
    compose_file = os.environ.get("COMPOSE_FILE", "")
    separator = os.environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
    if compose_file and compose_file.split(separator) != files:
        summary += f" (COMPOSE_FILE={compose_file} is plain `docker compose`'s, not this task's)"
    return summary


def compose(c: Context, mode: str, args: str, **kwargs):  # type: ignore[no-untyped-def]
    """Print, then run, `docker compose` for one mode.

    Commands whose output a person sees also get a line naming the mode's files and the
    profiles in effect (COMPOSE_PROFILES from .env counts: Compose reads it too).
    """
    command = compose_command(mode, args)
    print(f"+ {command}", file=sys.stderr, flush=True)
    if not kwargs.get("hide"):
        print(f"  ({compose_summary(mode, args)})", file=sys.stderr, flush=True)
    kwargs.setdefault("pty", sys.stdout.isatty())
    with c.cd(str(ROOT)):
        return c.run(command, **kwargs)


def running_services(c: Context, mode: str) -> set[str]:
    result = compose(c, mode, "ps --services --status running", hide=True, warn=True)
    return set(result.stdout.split()) if result and result.ok else set()


def in_service(c: Context, mode: str, service: str, command: str, profile: str = "") -> None:
    """Run a command in a service: `exec` if it is up, else a one-off `run --rm`."""
    profile_flag = f"--profile {profile} " if profile else ""
    if service in running_services(c, mode):
        compose(c, mode, f"{profile_flag}exec {service} {command}")
    else:
        compose(c, mode, f"{profile_flag}run --rm {service} {command}")


def service_url(container: dict) -> str:
    """Where a person reaches the service, from the ports Compose really published."""
    published = {
        p["TargetPort"]: (p.get("URL") or "127.0.0.1", p["PublishedPort"])
        for p in container.get("Publishers") or []
        if p.get("PublishedPort")
    }
    if not published:
        return "internal"
    urls = []
    for target, template in SERVICE_URLS.get(container.get("Service", ""), []):
        if target in published:
            host, port = published[target]
            host = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host  # noqa: S104
            urls.append(template.format(host=host, port=port))
    if urls:
        return "  ".join(urls)
    return ", ".join(f"{host}:{port}" for host, port in sorted(published.values()))


def ui_hint(c: Context, mode: str) -> str:
    """Where the web UI is and who signs in, for the line after the status table."""
    result = compose(c, mode, "port api 8080", hide=True, warn=True)
    address = (result.stdout.strip() if result and result.ok else "").rsplit(":", 1)
    if len(address) != 2:
        return ""
    user = os.environ.get("UI_ADMIN_USER", "admin")
    return f"Open the UI: http://localhost:{address[1]}/ (sign in as {user}, UI_ADMIN_PASSWORD)"


def status_table(c: Context, mode: str) -> tuple[str, bool]:
    result = compose(c, mode, "ps --all --format json", hide=True, warn=True)
    containers = _parse_ps_json(result.stdout if result else "")
    rows = []
    all_healthy = bool(containers)
    for container in sorted(containers, key=lambda item: item.get("Service", "")):
        service = container.get("Service", "?")
        state = container.get("State", "?")
        health = container.get("Health") or ("running" if state == "running" else state)
        ok = health in {"healthy", "running"} and state == "running"
        if state == "exited" and container.get("ExitCode") == 0:
            health, ok = "done", True  # a one-shot (jaeger-init) that did its job
        all_healthy &= ok
        rows.append((("OK " if ok else "!! ") + service, health, service_url(container)))
    width = max([len(row[0]) for row in rows] + [10])
    lines = [f"{'SERVICE'.ljust(width)}  {'HEALTH'.ljust(10)}  URL"]
    lines += [f"{name.ljust(width)}  {health.ljust(10)}  {url}" for name, health, url in rows]
    return "\n".join(lines), all_healthy


def _parse_ps_json(text: str) -> list[dict]:
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):  # Compose < 2.21 printed one JSON array
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# Stack lifecycle
# ---------------------------------------------------------------------------


def startable_services(c: Context, mode: str, profiles: str = "") -> list[str]:
    """The services whose image is here or built here, for machines that cannot pull.

    On our CI machines no registry is reachable and Grafana and Jaeger have no stand-in
    (.ci/airgap-images.sh): start the rest, and say what was left out.
    """
    config = json.loads(compose(c, mode, f"{profiles} config --format json", hide=True).stdout)
    startable, skipped = [], []
    for name, service in sorted(config["services"].items()):
        image = service.get("image")
        if "build" in service or (image and _image_present(c, image)):
            startable.append(name)
        else:
            skipped.append(name)
    if skipped:
        print(
            f"No registry here ({AIRGAP_ENV.relative_to(ROOT)} is loaded) and no image for: "
            f"{', '.join(skipped)}; starting the rest.",
            file=sys.stderr,
        )
    return startable


def _image_present(c: Context, image: str) -> bool:
    result = c.run(f"docker image inspect {shlex.quote(image)}", hide=True, warn=True)
    return bool(result and result.ok)


@task(
    help={
        "mode": MODE_HELP,
        "build": "build application images before starting",
        "services": "comma-separated services to start (default: all)",
        "profile": "comma-separated compose profiles to enable (e.g. tools,monitoring)",
        "timeout": "seconds to wait for every service to be healthy",
    }
)
def up(c, mode="base", build=False, services="", profile="", timeout=300):
    """Start the stack, wait until every service is healthy, print a status table."""
    profiles = " ".join(f"--profile {name}" for name in profile.split(",") if name)
    flags = f"{profiles} up --detach --wait --wait-timeout {timeout}"
    if build:
        flags += " --build"
    if not services and AIRGAP_ENV.exists():
        services = ",".join(startable_services(c, mode, profiles))
    result = compose(c, mode, f"{flags} {services.replace(',', ' ')}", warn=True)
    table, healthy = status_table(c, mode)
    print(table)
    if not (result and result.ok and healthy):
        raise Exit(
            f"\nSome services are not healthy. See why: "
            f"`{compose_command(mode, 'logs --tail 50 SERVICE')}`",
            code=1,
        )
    print("\nLLM Observatory is ready.", ui_hint(c, mode))


@task(
    help={
        "mode": MODE_HELP,
        "volumes": "also delete the named volumes (all data!)",
    }
)
def down(c, mode="base", volumes=False):
    """Stop and remove the stack's containers (data volumes are kept unless --volumes)."""
    compose(c, mode, "--profile '*' down --remove-orphans" + (" --volumes" if volumes else ""))


@task(help={"mode": MODE_HELP})
def ps(c, mode="base"):
    """Show every service of the stack with its health and URL."""
    table, _ = status_table(c, mode)
    print(table)


@task(help={"mode": MODE_HELP})
def status(c, mode="base"):
    """Each service's health and URL (Grafana, Prometheus, Jaeger...); exit 1 if one is not OK."""
    table, healthy = status_table(c, mode)
    print(table)
    if not healthy:
        raise Exit(
            f"\nSome services are not healthy. See why: "
            f"`{compose_command(mode, 'logs --tail 50 SERVICE')}`",
            code=1,
        )


# `invoke logs` with a filter: the services' lines merged in time order, readable.
LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LOG_LINE = re.compile(r"^(?P<container>\S+?)(?:-\d+)?\s+\| (?P<stamp>\S+) ?(?P<text>.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Level words of the lines that are not ours (PostgreSQL, Redis, Prometheus...).
_TEXT_LEVELS = {
    "debug": "debug",
    "info": "info",
    "log": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "fatal": "critical",
    "panic": "critical",
}
_TEXT_LEVEL = re.compile(r"\b(" + "|".join(_TEXT_LEVELS) + r")\b", re.IGNORECASE)
_SINCE = re.compile(r"^(\d+(s|m|h|d)|\d{4}-\d\d-\d\d[T ][\d:.]+(Z|[+-]\d\d:?\d\d)?)$")


def parse_log_line(raw: str) -> tuple[str, str, str, str] | None:
    """(time, service, level, message) of a `docker compose logs --timestamps` line."""
    match = _LOG_LINE.match(_ANSI.sub("", raw).rstrip("\n"))
    if not match:
        return None
    stamp, service, text = match["stamp"], match["container"], match["text"]
    try:
        record = json.loads(text) if text.startswith("{") else None
    except ValueError:
        record = None
    if isinstance(record, dict) and "event" in record:
        level = str(record.pop("level", "info")).lower()
        logger, event = record.pop("logger", ""), record.pop("event")
        exception = record.pop("exception", None)
        for key in ("timestamp", "service"):
            record.pop(key, None)
        extras = " ".join(f"{key}={value}" for key, value in record.items())
        message = f"{logger}: {event}" if logger else str(event)
        message = f"{message}  {extras}" if extras else message
        if exception:
            message = f"{message}\n{exception}"
        return stamp, service, level, message
    word = _TEXT_LEVEL.search(text[:80])
    return stamp, service, _TEXT_LEVELS[word[1].lower()] if word else "info", text


def format_log_line(parsed: tuple[str, str, str, str]) -> str:
    stamp, service, level, message = parsed
    return f"{stamp[11:23]} {service:<14} {level.upper():<8} {message}"


def log_filter(level: str, grep: str):  # type: ignore[no-untyped-def]
    least = LOG_LEVELS[level]
    needle = grep.lower()

    def keep(parsed: tuple[str, str, str, str]) -> bool:
        return LOG_LEVELS.get(parsed[2], 20) >= least and needle in parsed[3].lower()

    return keep


class _FilteredLogStream:
    """What invoke writes while following: each whole line filtered and formatted."""

    def __init__(self, keep) -> None:  # type: ignore[no-untyped-def]
        self.keep = keep
        self.partial = ""

    def write(self, data: str) -> None:
        lines = (self.partial + data).split("\n")
        self.partial = lines.pop()
        for line in lines:
            parsed = parse_log_line(line)
            if parsed and self.keep(parsed):
                print(format_log_line(parsed), flush=True)

    def flush(self) -> None:
        return


@task(
    help={
        "mode": MODE_HELP,
        "service": "comma-separated services (default: all)",
        "follow": "keep following new lines",
        "tail": "lines to show from the end of each log",
        "level": f"least level shown: {', '.join(LOG_LEVELS)} (merged output)",
        "grep": "only lines containing this text, any case (merged output)",
        "since": "only lines newer than this: 10m, 2h, 1d or a time (2026-05-01T12:00:00Z)",
        "plain": "docker compose's own output, service by service (no merging)",
    }
)
def logs(
    c, mode="base", service="", follow=False, tail=200, level="", grep="", since="", plain=False
):
    """Show the services' logs: merged in time order and readable, or --plain."""
    if level and level not in LOG_LEVELS:
        raise Exit(f"--level must be one of {', '.join(LOG_LEVELS)}, not {level!r}", code=2)
    if since and not _SINCE.match(since):
        raise Exit(f"--since takes 10m, 2h, 1d or an ISO time, not {since!r}", code=2)
    services = " ".join(name for name in service.split(",") if name)
    flags = f"--tail {tail}" + (f" --since {since}" if since else "")
    if plain:
        compose(c, mode, f"logs {flags}{' --follow' if follow else ''} {services}".strip())
        return
    keep = log_filter(level or "debug", grep)
    args = f"logs --no-color --timestamps {flags}"
    if follow:
        stream = _FilteredLogStream(keep)
        compose(c, mode, f"{args} --follow {services}", out_stream=stream, pty=False)
        return
    result = compose(c, mode, f"{args} {services}", hide="out", pty=False)
    lines = [parsed for raw in result.stdout.splitlines() if (parsed := parse_log_line(raw))]
    for parsed in sorted((p for p in lines if keep(p)), key=lambda p: p[0]):
        print(format_log_line(parsed))


# ---------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------

SERVICES_HELP = "comma-separated services to start (default: all)"


@task(
    help={
        "services": SERVICES_HELP,
        "follow": "follow the logs afterwards (Ctrl-C stops following, not the stack)",
    }
)
def dev(c, services="", follow=False):
    """Start dev mode: source mounted, every Python service reloads when you save."""
    up(c, mode="dev", build=True, services=services)
    print("Edit src/: the service restarts in about 2 s. Logs: invoke logs --mode dev -f")
    if follow:
        compose(c, "dev", "logs --follow --tail 20", warn=True)


@task(
    help={
        "services": SERVICES_HELP,
        "wait": "each service waits for the debugger to attach before it starts",
        "base": "on top of the base file alone (mode debug-base): the source built into "
        "the dev image, no ./src mount",
    }
)
def debug(c, services="", wait=False, base=False):
    """Start debug mode: services under debugpy on 5678 (collector), 5679 (storage), 5680 (api)."""
    mode = "debug-base" if base else "debug"
    os.environ["DEBUGPY_WAIT_FOR_CLIENT"] = "true" if wait else "false"
    if wait:
        # Services wait for the IDE, so their healthchecks cannot pass before it attaches.
        compose(c, mode, f"up --detach --build {services.replace(',', ' ')}")
    else:
        up(c, mode=mode, build=True, services=services)
    print("Attach with VS Code: Run and Debug > 'Attach: all services' (.vscode/launch.json).")


@task(help={"services": SERVICES_HELP})
def prod(c, services=""):
    """Start production mode: release images, hardened, limited, JSON logs."""
    # The stack's preflight service refuses the same; this says why before any build.
    fine, message = production_secrets()
    if not fine:
        raise Exit(message, code=2)
    up(c, mode="prod", build=True, services=services)


def production_secrets() -> tuple[bool, str]:
    """`llm-observatory check-production` on the environment compose will see."""
    from llm_observatory.cli.production import report

    return report(os.environ)


@task(
    help={
        "mode": MODE_HELP,
        "service": "only this service (default: every service that builds)",
        "no_cache": "rebuild every layer",
        "push": "then push them to REGISTRY (invoke push)",
    }
)
def build(c, mode="base", service="", no_cache=False, push=False):
    """Build the application images of a mode (named from REGISTRY and IMAGE_TAG)."""
    compose(c, mode, f"build{' --no-cache' if no_cache else ''} {service}".strip())
    if push:
        push_images(c, mode=mode, service=service)


@task(name="push", help={"mode": MODE_HELP, "service": "only this service (default: all)"})
def push_images(c, mode="base", service=""):
    """Push the images we build to REGISTRY, tagged IMAGE_TAG (Swarm nodes pull them)."""
    if not os.environ.get("REGISTRY"):
        raise Exit(
            "REGISTRY is not set: name the registry the images go to, with its slash "
            "(REGISTRY=registry.example.com/team/ in .env), then build again",
            code=2,
        )
    # Compose pushes only the services it builds; the others are third-party images.
    compose(c, mode, f"push {service}".strip())


@task(help={"mode": MODE_HELP, "service": "only this service (default: all)"})
def restart(c, mode="base", service=""):
    """Restart services (after changing .env, recreate instead: invoke up)."""
    compose(c, mode, f"restart {service}".strip())


@task(
    help={
        "mode": MODE_HELP,
        "yes": "do not ask: delete the volumes (all data) without confirmation",
        "images": "also remove the images built for this project",
    }
)
def clean(c, mode="base", yes=False, images=False):
    """Remove the stack with its volumes (all its data) after asking; --images too."""
    project = project_name(mode)
    if not yes:
        if not sys.stdin.isatty():
            raise Exit("refusing to delete volumes without a terminal to ask: add --yes", code=1)
        answer = input(f"Delete every volume of {project} (all its data)? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing deleted.")
            return
    flags = " --rmi local" if images else ""
    compose(c, mode, f"--profile '*' down --volumes --remove-orphans{flags}")


# ---------------------------------------------------------------------------
# Docker Swarm (docker-compose.swarm.yml, deploy/swarm/, docs/SCALING.md)
# ---------------------------------------------------------------------------

# The production files, the Swarm overlay, and the profiles a cluster runs.
SWARM_FILES = [*MODES["prod"], "docker-compose.swarm.yml"]
# For kernels without IPVS: no routing mesh, no virtual IPs (deploy/swarm/nomesh.yml).
SWARM_NO_MESH_FILE = "deploy/swarm/nomesh.yml"
SWARM_PROFILES = ("monitoring", "replica")
SWARM_CONVERTER = "deploy/swarm/stack.py"
# Where the converted stack file is written (no secret in it): deploy it by hand too.
SWARM_BUILD = ROOT / "build" / "swarm"
# Placement labels docker-compose.swarm.yml pins the stateful services with.
SWARM_NODE_LABELS = ("llmo.database", "llmo.database-replica", "llmo.redis", "llmo.monitoring")
# Our secrets carry this label (not the stack's own): `docker stack rm` keeps them.
SWARM_SECRET_LABEL = "llm-observatory.stack"  # noqa: S105 - a label, not a secret
STACK_HELP = "the stack's name (default: COMPOSE_PROJECT_NAME, llm-observatory)"


def run(c: Context, command: str, **kwargs):  # type: ignore[no-untyped-def]
    """Print, then run, a command (as compose() does for docker compose)."""
    print(f"+ {command}", file=sys.stderr, flush=True)
    kwargs.setdefault("pty", False)
    with c.cd(str(ROOT)):
        return c.run(command, **kwargs)


def swarm_files(no_mesh: bool) -> list[str]:
    return SWARM_FILES + ([SWARM_NO_MESH_FILE] if no_mesh else [])


def swarm_config_command(stack: str, no_mesh: bool) -> str:
    files = " ".join(f"-f {name}" for name in swarm_files(no_mesh))
    profiles = " ".join(f"--profile {name}" for name in SWARM_PROFILES)
    return f"docker compose --project-name {stack} {files} {profiles}"


def _swarm_nodes(c: Context) -> list[dict]:
    result = run(c, "docker node ls --format json", hide=True, warn=True)
    if not (result and result.ok):
        raise Exit(
            "this engine is not a Swarm manager: `docker swarm init` makes a one-node Swarm "
            "(docs/SCALING.md sets up several)",
            code=1,
        )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _label_single_node(c: Context, nodes: list[dict]) -> None:
    """A one-node Swarm runs everything on its node: give it every placement label."""
    if len(nodes) != 1:
        return
    node = nodes[0]["ID"]
    inspect = run(c, f"docker node inspect {node} --format '{{{{json .Spec.Labels}}}}'", hide=True)
    labels = json.loads(inspect.stdout or "{}") or {}
    missing = [label for label in SWARM_NODE_LABELS if labels.get(label) != "true"]
    if missing:
        adds = " ".join(f"--label-add {label}=true" for label in missing)
        run(c, f"docker node update {adds} {node}", hide="out")


def _missing_images(c: Context, document: dict) -> list[str]:
    missing = []
    for name, service in sorted(document["services"].items()):
        if not _image_present(c, service["image"]):
            missing.append(name)
    return missing


@task(
    help={
        "stack": STACK_HELP,
        "no_mesh": "for kernels without IPVS: DNS round robin and an edge proxy instead "
        "of the routing mesh, no encrypted network (deploy/swarm/nomesh.yml)",
        "build": "build the images first (only without REGISTRY: a one-node Swarm)",
        "local_images": "several nodes without REGISTRY: every node already has the images "
        "(docker save | docker load)",
        "timeout": "seconds to wait for every service to run all its tasks (0: do not wait)",
    }
)
def swarm_up(c, stack="", no_mesh=False, build=False, local_images=False, timeout=300):
    """Deploy the production stack on a Docker Swarm: secrets, converted stack file, deploy."""
    stack = stack or project_name("prod")
    fine, message = production_secrets()
    if not fine:
        raise Exit(message, code=2)
    nodes = _swarm_nodes(c)
    registry = os.environ.get("REGISTRY", "")
    if not registry and len(nodes) > 1 and not local_images:
        raise Exit(
            f"{len(nodes)} nodes and no REGISTRY: the other nodes cannot get our images. "
            "Set REGISTRY and run `invoke build --mode prod --push`, or load the images "
            "on every node and pass --local-images",
            code=2,
        )
    _label_single_node(c, nodes)
    config = swarm_config_command(stack, no_mesh)
    if build:
        if registry:
            raise Exit("--build is for a one-node Swarm without REGISTRY: use invoke push", 2)
        run(c, f"{config} build")

    SWARM_BUILD.mkdir(parents=True, exist_ok=True)
    stack_file = SWARM_BUILD / f"{stack}.yml"
    with tempfile.TemporaryDirectory(prefix="llmo-swarm-") as tmp:
        # The rendered model and the secrets hold passwords: private files, then gone.
        rendered, secrets_file = Path(tmp, "rendered.json"), Path(tmp, "secrets.json")
        run(c, f"{config} config --format json > {rendered}")
        import yaml  # the dev group's, like every task's tools

        document = yaml.safe_load(
            run(
                c,
                f"{sys.executable} {SWARM_CONVERTER} --stack {stack} --secrets-out {secrets_file}"
                f" < {rendered}",
                hide="out",
            ).stdout
        )
        skip = _missing_images(c, document) if not registry and AIRGAP_ENV.exists() else []
        if skip:
            print(
                f"No registry here and no image for: {', '.join(skip)}; deploying the rest.",
                file=sys.stderr,
            )
        run(
            c,
            f"{sys.executable} {SWARM_CONVERTER} --stack {stack} --secrets-out {secrets_file}"
            + (f" --skip {','.join(skip)}" if skip else "")
            + f" < {rendered} > {_shown(stack_file)}",
        )
        secrets = json.loads(secrets_file.read_text())
    for name, value in sorted(secrets.items()):
        if run(c, f"docker secret inspect {name}", hide=True, warn=True).ok:
            continue
        # The value goes in on stdin: it never appears in a command line or this output.
        run(
            c,
            f"docker secret create --label {SWARM_SECRET_LABEL}={stack} {name} -",
            in_stream=io.StringIO(value),
            hide="out",
        )
    resolve = "always" if registry else "never"
    auth = " --with-registry-auth" if registry else ""
    run(
        c,
        f"docker stack deploy --detach=true --prune --resolve-image {resolve}{auth} "
        f"-c {_shown(stack_file)} {stack}",
    )
    if timeout:
        _wait_converged(c, stack, timeout)
    swarm_ps(c, stack=stack)


def _wait_converged(c: Context, stack: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        result = c.run(
            f"docker stack services {stack} --format '{{{{.Name}}}} {{{{.Replicas}}}}'",
            hide=True,
            warn=True,
        )
        rows = [line.split()[:2] for line in result.stdout.splitlines() if line.strip()]
        pending = [name for name, replicas in rows if not _replicas_done(replicas)]
        if rows and not pending:
            return
        time.sleep(2)
    raise Exit(
        f"not every task runs after {timeout:g}s: {', '.join(pending)}. "
        f"See why: `docker stack ps {stack} --no-trunc`",
        code=1,
    )


def _replicas_done(replicas: str) -> bool:
    """'2/2' (and global's '3/3'): every wanted task runs."""
    running, _, wanted = replicas.partition("/")
    return running.isdigit() and running == wanted.split()[0]


@task(help={"stack": STACK_HELP})
def swarm_ps(c, stack=""):
    """The stack's services with their replicas, and where each task runs."""
    stack = stack or project_name("prod")
    run(c, f"docker stack services {stack}")
    run(
        c,
        f"docker stack ps {stack} --filter desired-state=running "
        "--format 'table {{.Name}}\\t{{.Node}}\\t{{.CurrentState}}\\t{{.Error}}'",
    )


@task(
    help={
        "stack": STACK_HELP,
        "secrets": "also remove the secrets swarm-up created",
        "volumes": "also remove the stack's volumes on this node (all their data!)",
    }
)
def swarm_down(c, stack="", secrets=False, volumes=False):
    """Remove the stack (its volumes and secrets are kept unless asked)."""
    stack = stack or project_name("prod")
    run(c, f"docker stack rm {stack}")
    if secrets:
        listed = run(
            c, f"docker secret ls -q --filter label={SWARM_SECRET_LABEL}={stack}", hide="out"
        )
        if listed.stdout.split():
            run(c, f"docker secret rm {' '.join(listed.stdout.split())}", warn=True)
    if volumes:
        # A volume stays busy until its containers are gone: give them a moment.
        for _ in range(30):
            if not run(
                c, f"docker ps -aq --filter label=com.docker.stack.namespace={stack}", hide="out"
            ).stdout.split():
                break
            time.sleep(1)
        listed = run(
            c, f"docker volume ls -q --filter label=com.docker.stack.namespace={stack}", hide="out"
        )
        if listed.stdout.split():
            run(c, f"docker volume rm {' '.join(listed.stdout.split())}", warn=True)


# ---------------------------------------------------------------------------
# Set-up and checks
# ---------------------------------------------------------------------------

# Every secret production refuses as a development default (core/settings.py).
_SECRET_KEYS = tuple(DEVELOPMENT_SECRETS)


def render_env(example: str) -> str:
    """.env.example with every secret replaced by a fresh random value."""

    def replace(match: re.Match[str]) -> str:
        # 32 random bytes: 43 characters, above every minimum check-production sets.
        return f"{match.group(1)}={secrets.token_urlsafe(32)}"

    pattern = re.compile(rf"^({'|'.join(_SECRET_KEYS)})=.*$", re.MULTILINE)
    return pattern.sub(replace, example)


@task
def env(c):
    """Create .env from .env.example with generated secrets (never overwrites .env)."""
    target = ROOT / ".env"
    if target.exists():
        print(f"{target} exists; leaving it as it is. Delete it first to regenerate.")
        return
    target.write_text(render_env((ROOT / ".env.example").read_text()))
    target.chmod(0o600)
    print(f"Wrote {target} with random secrets. A running stack keeps its old passwords:")
    print("recreate its volumes (`invoke down --volumes`) before using the new ones.")


def _check(name: str, ok: bool, detail: str, fix: str) -> bool:
    mark = "ok  " if ok else "FAIL"
    print(f"[{mark}] {name}: {detail}")
    if not ok:
        print(f"       fix: {fix}")
    return ok


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@task(help={"mode": MODE_HELP})
def doctor(c, mode="base"):
    """Check the machine: engine, Compose v2, free ports, memory and disk."""
    results = []
    engine = c.run("docker version --format '{{.Server.Version}}'", hide=True, warn=True)
    results.append(
        _check(
            "Docker engine",
            bool(engine and engine.ok),
            (engine.stdout.strip() if engine and engine.ok else "not reachable"),
            "start Docker (Docker Desktop, or `sudo systemctl start docker`; "
            "on a bare Debian machine `bash .ci/docker-engine.sh`)",
        )
    )
    version = c.run("docker compose version --short", hide=True, warn=True)
    compose_ok = bool(version and version.ok and version.stdout.strip().lstrip("v")[:1] >= "2")
    results.append(
        _check(
            "Docker Compose v2",
            compose_ok,
            version.stdout.strip() if version and version.ok else "missing",
            "install the Compose v2 plugin (`docker compose`, not `docker-compose`)",
        )
    )
    running = running_services(c, mode) if engine and engine.ok else set()
    for variable, default in PLAN_PORTS.items():
        if variable in DEV_ONLY_PORTS and mode not in {"dev", "debug"}:
            continue
        port = int(os.environ.get(variable, default))
        free = _port_free(port)
        results.append(
            _check(
                f"port {port} ({variable})",
                free or bool(running),
                "free" if free else ("in use by this stack" if running else "in use"),
                f"stop what listens there (`ss -ltnp 'sport = :{port}'`) "
                f"or set {variable}=<other port> in .env",
            )
        )
    if mode == "prod":
        from llm_observatory.cli.production import problems

        refused = problems(os.environ)
        results.append(
            _check(
                "production secrets",
                not refused,
                "; ".join(refused) or "none refused",
                "set them in .env (`invoke env` writes one with random secrets)",
            )
        )
    memory_gb = _memory_gb()
    results.append(
        _check(
            "memory",
            memory_gb >= 4,
            f"{memory_gb:.1f} GB total",
            "the full stack needs about 4 GB; give Docker more memory",
        )
    )
    free_gb = shutil.disk_usage(ROOT).free / 1e9
    results.append(
        _check(
            "disk",
            free_gb >= 5,
            f"{free_gb:.1f} GB free",
            "images and data need about 5 GB: `docker system prune` or free space",
        )
    )
    if not all(results):
        raise Exit("\nSome checks failed; see the fixes above.", code=1)
    print("\nAll checks passed.")


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


# ---------------------------------------------------------------------------
# Quality
# ---------------------------------------------------------------------------


@task
def lint(c):
    """Lint YAML (yamllint --strict), Python (ruff), Dockerfiles (hadolint), compose files."""
    with c.cd(str(ROOT)):
        c.run("yamllint --strict .", pty=False)
        c.run("ruff check .", pty=False)
        c.run("ruff format --check .", pty=False)
        dockerfiles = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("**/Dockerfile*"))
        dockerfiles = [
            p for p in dockerfiles if not p.startswith((".venv", ".")) and "node_modules" not in p
        ] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".ci").glob("**/Dockerfile"))
        if dockerfiles:
            c.run(f"hadolint {' '.join(dockerfiles)}", pty=False)
    for mode in MODES:
        if all((ROOT / name).exists() for name in MODES[mode]):
            compose(c, mode, "config --quiet", pty=False)


UI_ASSETS = ROOT / "src" / "llm_observatory" / "api" / "ui" / "assets"


@task
def ui_assets(c):
    """Fetch the UI's npm files (web UI, /docs, /graphql, axe-core) for an API run on the host.

    Images fetch them in their own build stage; `npm ci` installs exactly the versions
    of api/ui/assets/package-lock.json into its node_modules (git-ignored).
    """
    if shutil.which("npm") is None:
        raise Exit("npm is not installed: apt-get install -y npm", code=1)
    with c.cd(str(UI_ASSETS)):
        c.run("npm ci", pty=False)


# The API's Postman collection and its environment (docs/api/README.md), run by newman
# from docs/api's own package.json and lock.
API_DOCS = ROOT / "docs" / "api"
API_COLLECTION = API_DOCS / "llm-observatory.postman_collection.json"
API_ENVIRONMENT = API_DOCS / "llm-observatory.postman_environment.json"
NEWMAN = API_DOCS / "node_modules" / ".bin" / "newman"
# Environment value <- the variable compose passes the API (an unset or empty one keeps
# the environment file's value, the development default, as compose's `:-` does).
COLLECTION_JWT = {
    "jwtSecret": "JWT_SECRET",
    "jwtAlgorithm": "JWT_ALGORITHM",
    "jwtAudience": "JWT_AUDIENCE",
    "jwtIssuer": "JWT_ISSUER",
}


def collection_environment(base_url: str, **values: str) -> dict:
    """The collection's environment for the API at base_url, signing as that stack does."""
    environment = json.loads(API_ENVIRONMENT.read_text())
    wanted = {key: os.environ[name] for key, name in COLLECTION_JWT.items() if os.environ.get(name)}
    wanted.update(baseUrl=base_url, **values)
    for entry in environment["values"]:
        if entry["key"] in wanted:
            entry["value"] = wanted.pop(entry["key"])
    environment["values"] += [{"key": k, "value": v, "enabled": True} for k, v in wanted.items()]
    return environment


def install_newman(c: Context) -> None:
    """`npm ci` in docs/api unless newman is there (node_modules is git-ignored)."""
    if NEWMAN.exists():
        return
    if shutil.which("npm") is None:
        raise Exit("npm is not installed: apt-get install -y npm", code=1)
    with c.cd(str(API_DOCS)):
        c.run("npm ci --no-audit --no-fund", pty=False)


@task(
    help={
        "mode": MODE_HELP,
        "folder": "run only this folder of the collection, e.g. GraphQL",
        "base_url": "the API's URL (default: the running stack's published port)",
    }
)
def api_collection(c, mode="base", folder="", base_url=""):
    """Run the API's Postman collection (docs/api) with newman and print its summary.

    Tokens are minted by the collection with the JWT_SECRET the stack runs with; the
    environment file goes to newman through a private temporary file, not argv.
    """
    install_newman(c)
    base_url = base_url or f"http://{published(c, mode, 'api', 8080)}"
    with tempfile.TemporaryDirectory(prefix="llmo-newman-") as tmp:
        env_file = Path(tmp, "environment.json")
        env_file.write_text(json.dumps(collection_environment(base_url)))
        folder_flag = f" --folder {shlex.quote(folder)}" if folder else ""
        print(f"+ newman run {_shown(API_COLLECTION)} against {base_url}{folder_flag}")
        result = c.run(
            f"{shlex.quote(str(NEWMAN))} run {shlex.quote(str(API_COLLECTION))}"
            f" --environment {shlex.quote(str(env_file))}{folder_flag}",
            pty=sys.stdout.isatty(),
            warn=True,
        )
    if result is None or not result.ok:
        raise Exit(code=result.exited if result is not None else 1)


TEST_SELECTIONS = {
    "all": "tests",
    "unit": "tests/unit",
    "lint": "tests/lint",
    "integration": "tests/integration",
    "smoke": "tests/smoke",
    "browser": "tests/browser",
}
# Reports of `invoke test --coverage` (reports/, git-ignored, unless LLMO_TEST_REPORTS
# names another directory); the test-runner container mounts it as /reports.
REPORTS = Path(ROOT, os.environ.get("LLMO_TEST_REPORTS") or "reports").resolve()
RUNNER_REPORTS = "/reports"
# Coverage on by default where this says so (CI sets it): `invoke test` stays the command.
COVERAGE_VARIABLE = "LLMO_TEST_COVERAGE"


def report_args(reports: str, name: str) -> list[str]:
    """pytest-cov and JUnit arguments writing every report of a run under `reports`."""
    return [
        "--cov=llm_observatory",
        f"--cov-report=html:{reports}/coverage",
        f"--cov-report=xml:{reports}/coverage.xml",
        f"--junitxml={reports}/junit-{name}.xml",
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _clear_reports(name: str) -> None:
    """Remove a previous run's reports, so a run that writes none cannot show stale ones."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(REPORTS / "coverage", ignore_errors=True)
    for stale in (REPORTS / "coverage.xml", REPORTS / f"junit-{name}.xml"):
        stale.unlink(missing_ok=True)


def coverage_total(xml: Path) -> float:
    """Percent of src/'s lines and branches run, as `coverage report` counts its total."""
    from xml.etree import ElementTree

    root = ElementTree.parse(xml).getroot()  # noqa: S314 - our own run's report
    run = int(root.get("lines-covered", 0)) + int(root.get("branches-covered", 0))
    valid = int(root.get("lines-valid", 0)) + int(root.get("branches-valid", 0))
    return 100.0 * run / valid if valid else 0.0


def _print_reports(name: str) -> None:
    xml = REPORTS / "coverage.xml"
    if not xml.exists():
        print(f"No coverage report was written ({_shown(xml)} missing).")
        return
    print(
        f"\nCoverage of src/llm_observatory: {coverage_total(xml):.1f}% of lines and branches, "
        "run by the test process (not by the services inside the test stack's containers).\n"
        f"Reports: {_shown(REPORTS / 'coverage' / 'index.html')}, {_shown(xml)}, "
        f"{_shown(REPORTS / f'junit-{name}.xml')}"
    )


@task(
    help={
        "selection": f"which tests: {', '.join(TEST_SELECTIONS)} (default: all)",
        "k": "only tests matching this pytest -k expression",
        "extra": "further pytest arguments, quoted",
        "in_docker": "run unit + integration tests in the test-runner container, inside "
        "the isolated test stack's network",
        "coverage": "write coverage (HTML, XML) and JUnit reports into reports/ and print "
        f"the total (default when {COVERAGE_VARIABLE}=1)",
    }
)
def test(c, selection="all", k="", extra="", in_docker=False, coverage=False):
    """Run the test suite; the smoke and integration tests start an isolated test stack."""
    if selection not in TEST_SELECTIONS:
        raise Exit(
            f"unknown selection {selection!r}: choose one of {', '.join(TEST_SELECTIONS)}", code=2
        )
    coverage = coverage or os.environ.get(COVERAGE_VARIABLE, "").lower() in {"1", "true", "yes"}
    name = "in-docker" if in_docker else selection
    if coverage:
        _clear_reports(name)
    if in_docker:
        if extra or k:
            os.environ["TEST_RUNNER_ARGS"] = " ".join(
                [TEST_SELECTIONS[selection], f"-k {k!r}" if k else "", extra]
            ).strip()
        if coverage:
            os.environ["TEST_RUNNER_REPORT_ARGS"] = " ".join(report_args(RUNNER_REPORTS, name))
            os.environ["TEST_REPORTS_DIR"] = str(REPORTS)  # mounted as RUNNER_REPORTS
        try:
            result = compose(
                c,
                "test-runner",
                "up --build --abort-on-container-exit --exit-code-from test-runner test-runner",
                warn=True,
            )
            if coverage and hasattr(os, "getuid") and os.getuid() != 0:
                # The runner writes as root: hand the reports back to whoever ran this.
                compose(
                    c,
                    "test-runner",
                    "run --rm --no-deps --entrypoint chown test-runner "
                    f"-R {os.getuid()}:{os.getgid()} {RUNNER_REPORTS}",
                    warn=True,
                )
        finally:
            compose(c, "test-runner", "--profile '*' down --volumes --remove-orphans", warn=True)
    else:
        args = [TEST_SELECTIONS[selection]]
        if k:
            args.append(f"-k {k!r}")
        if extra:
            args.append(extra)
        if coverage:
            args += report_args(_shown(REPORTS), name)
        with c.cd(str(ROOT)):
            result = c.run(f"{sys.executable} -m pytest {' '.join(args)}", pty=False, warn=True)
    if coverage:
        _print_reports(name)
    if result is None or not result.ok:  # a Result is falsy when it failed
        raise Exit(code=result.exited if result is not None else 1)


# ---------------------------------------------------------------------------
# Benchmarks
# ---------------------------------------------------------------------------


def published(c: Context, mode: str, service: str, port: int) -> str:
    """host:port Compose published for a service's container port."""
    result = compose(c, mode, f"port {service} {port}", hide=True, warn=True)
    if not (result and result.ok and result.stdout.strip()):
        raise Exit(f"{service} is not running in mode {mode}: start it with invoke up", code=1)
    return result.stdout.strip().replace("0.0.0.0", "127.0.0.1")  # noqa: S104


@task(help={"skip_cold": "skip the cold start (a rebuild without Docker's layer cache)"})
def bench(c, skip_cold=False):
    """Measure start-up, warm restart, hot reload, idle RAM/CPU and image disk (a table)."""
    with c.cd(str(ROOT)):
        c.run(
            f"{sys.executable} -m tests.performance.stack_benchmark"
            + (" --skip-cold" if skip_cold else ""),
            pty=False,
        )


@task(
    help={
        "mode": MODE_HELP + "; a stack with its database published and on a volume: "
        "see tests/performance/compose.bench.yml",
        "workload": "llm (chat spans with prompts and completions, HTTP and DB spans) or bare",
        "senders": "concurrent OTLP/HTTP senders (closed loop)",
        "requests": "requests of 512 spans (default: the workload's)",
        "rate": "also send open loop at this fraction of the measured peak, e.g. 0.8",
    }
)
def bench_ingest(c, mode="base", workload="llm", senders=4, requests=0, rate=0.0):
    """Measure ingest: end-to-end spans/s, export latency, CPU, memory, DB-only ceiling."""
    otlp = published(c, mode, "collector", 4318)
    # The owner's login and database name as the stack's settings read them.
    owner = OwnerDatabase(database_url="")
    db_result = compose(c, mode, f"port timescaledb {owner.db_port}", hide=True, warn=True)
    db_args = ""
    if db_result and db_result.ok and db_result.stdout.strip():
        db = db_result.stdout.strip().replace("0.0.0.0", "127.0.0.1")  # noqa: S104
        host, _, port = db.rpartition(":")
        url = OwnerDatabase(db_host=host, db_port=int(port), database_url="").database_url
        db_args = f" --database-url {shlex.quote(url)}"
    with c.cd(str(ROOT)):
        c.run(
            f"{sys.executable} -m tests.performance.ingest_benchmark --otlp-url http://{otlp}"
            f" --project {project_name(mode)} --workload {shlex.quote(workload)}"
            f" --senders {senders} --requests {requests} --rate {rate}{db_args}",
            pty=False,
        )


# ---------------------------------------------------------------------------
# Database and tools (the cli service, profile tools)
# ---------------------------------------------------------------------------
# Each task is the CLI's command of the same name, run in the stack by the cli service
# (`docker compose --profile tools run --rm cli ...`), so it reaches the database by its
# in-network name and writes backups to the backup_data volume.

ROLE_HELP = "connect as owner (default), app or readonly"


def cli(c: Context, mode: str, args: str) -> None:
    in_service(c, mode, "cli", args, profile="tools")


@task(
    help={
        "mode": MODE_HELP,
        "revert": "undo the newest applied migration",
        "create": "write a new revision file with this name (source checkout)",
        "status": "list revisions, applied or pending",
    }
)
def migrate(c, mode="base", revert=False, create="", status=False):
    """Apply the schema migrations (or --revert, --create NAME, --status)."""
    chosen = [
        name for name, on in (("revert", revert), ("create", create), ("status", status)) if on
    ]
    if len(chosen) > 1:
        raise Exit(f"choose one of --revert, --create, --status (got {', '.join(chosen)})", code=2)
    if create:
        # A revision file belongs in the source tree, not in a container's filesystem.
        with c.cd(str(ROOT)):
            c.run(
                f"{sys.executable} -m llm_observatory.cli.main migrate create {shlex.quote(create)}"
            )
        return
    cli(c, mode, "migrate " + ("revert" if revert else "status" if status else "run"))


@task(
    help={
        "mode": MODE_HELP,
        "count": "spans to write",
        "days": "spread them over the last N days",
        "seed": "random seed (same seed, same traces)",
    }
)
def seed(c, mode="base", count=1000, days=7, seed=42):
    """Write realistic demo traces (several providers and models, tools, errors)."""
    cli(c, mode, f"seed --count {int(count)} --days {float(days):g} --seed {int(seed)}")


@task(help={"mode": MODE_HELP, "confirm": "yes, delete every span, metric and log"})
def reset(c, mode="base", confirm=False):
    """Empty the spans, metric_points and log_records tables (needs --confirm)."""
    cli(c, mode, "reset --confirm" if confirm else "reset")


@task(
    help={
        "mode": MODE_HELP,
        "output": "write this file in the cli container (default: /backups/<db>-<time>.dump "
        "plus latest.dump, with retention and the optional S3 upload)",
    }
)
def backup(c, mode="base", output=""):
    """pg_dump the database into the backup_data volume (custom format)."""
    cli(c, mode, "backup" + (f" --output {shlex.quote(output)}" if output else ""))


@task(help={"mode": MODE_HELP, "path": "the dump in the cli container, e.g. /backups/latest.dump"})
def restore(c, path, mode="base"):
    """Restore a dump made by `invoke backup` (replaces the tables it contains)."""
    cli(c, mode, f"restore {shlex.quote(path)}")


@task(
    help={
        "mode": MODE_HELP,
        "subject": "the token's subject (sub claim)",
        "ttl": "lifetime in seconds (default: JWT_EXPIRATION)",
        "scope": "admin: the token may also delete data",
    }
)
def token(c, mode="base", subject="developer", ttl=0, scope=""):
    """Mint a development JWT for the API (--scope admin: it may also delete data)."""
    ttl_flag = f" --ttl {int(ttl)}" if int(ttl) else ""
    scope_flag = f" --scope {shlex.quote(scope)}" if scope else ""
    cli(c, mode, f"token --subject {shlex.quote(subject)}{ttl_flag}{scope_flag}")


def _flags(**values: str) -> str:
    """` --name value` for each value given (shell-quoted), in order."""
    return "".join(
        f" --{name.replace('_', '-')} {shlex.quote(str(value))}"
        for name, value in values.items()
        if value
    )


@task(
    help={
        "mode": MODE_HELP,
        "user": "a user id: their traces, logs and metric points",
        "conversation": "a conversation (session) id",
        "trace": "a trace id",
        "service": "a service name",
        "before": "only data older than this time (ISO 8601)",
        "confirm": "yes, delete (without it: a dry run, counts per table)",
    }
)
def delete(
    c, mode="base", user="", conversation="", trace="", service="", before="", confirm=False
):
    """Delete a user's, conversation's, trace's or service's data (dry run unless --confirm)."""
    flags = _flags(user=user, conversation=conversation, trace=trace, service=service)
    flags += _flags(before=before, requested_by=getpass.getuser())
    cli(c, mode, "delete" + flags + (" --confirm" if confirm else ""))


@task(
    help={
        "mode": MODE_HELP,
        "start": "from this time (ISO 8601), inclusive",
        "end": "to this time, exclusive (default: now)",
        "output": "the file to write on this machine",
        "format": "jsonl (default), csv or parquet",
        "service": "only this service's spans",
        "model": "only this model's spans",
        "user": "only this user's spans",
        "conversation": "only this conversation's spans",
    }
)
def export(
    c, start, output, mode="base", end="now", format="jsonl",
    service="", model="", user="", conversation="",
):  # fmt: skip
    """Export spans of a time range to a file here (streamed from the cli container)."""
    target = Path(output).resolve()
    partial = target.with_name(f".{target.name}.partial")
    flags = _flags(service=service, model=model, user=user, conversation=conversation)
    command = (
        f"--profile tools run --rm -T cli export --from {shlex.quote(start)} "
        f"--to {shlex.quote(end)} --format {shlex.quote(format)}{flags} --output - "
        f"> {shlex.quote(str(partial))}"
    )
    # No pseudo-terminal: the data is binary (Parquet) and goes through the shell's `>`.
    result = compose(c, mode, command, pty=False, warn=True)
    if result is None or not result.ok:
        partial.unlink(missing_ok=True)
        raise Exit("export failed (nothing written)", code=1)
    partial.replace(target)
    print(f"written: {target}")


def _db_role(role: str) -> tuple[str, str]:
    roles = {
        "owner": ("DB_USER", "postgres", "DB_PASSWORD", "postgres_dev_password"),
        "app": ("DB_APP_USER", "llm_observatory_app", "DB_APP_PASSWORD", "app_dev_password"),
        "readonly": (
            "DB_READONLY_USER",
            "llm_observatory_readonly",
            "DB_READONLY_PASSWORD",
            "readonly_dev_password",
        ),
    }
    if role not in roles:
        raise Exit(f"unknown role {role!r}: choose one of {', '.join(roles)}", code=2)
    user_var, user, password_var, password = roles[role]
    return os.environ.get(user_var, user), os.environ.get(password_var, password)


def _require_running(c: Context, mode: str, service: str) -> None:
    if service not in running_services(c, mode):
        raise Exit(f"{service} is not running in mode {mode}: start it with `invoke up`", code=1)


@task(help={"mode": MODE_HELP, "role": ROLE_HELP})
def psql(c, mode="base", role="owner"):
    """Open psql in the timescaledb container, over TCP as the chosen role."""
    user, password = _db_role(role)
    _require_running(c, mode, "timescaledb")
    port = os.environ.get("DB_PORT", "5432")
    name = os.environ.get("DB_NAME", "llm_observatory")
    compose(
        c,
        mode,
        f"exec -e PGPASSWORD={shlex.quote(password)} timescaledb "
        f"psql -h 127.0.0.1 -p {port} -U {shlex.quote(user)} -d {shlex.quote(name)}",
    )


@task(help={"mode": MODE_HELP})
def redis_cli(c, mode="base"):
    """Open redis-cli in the redis container, authenticated."""
    _require_running(c, mode, "redis")
    # The password comes from the container's own environment, not this command line.
    command = (
        'sh -c \'exec redis-cli -p "${REDIS_PORT:-6379}" --no-auth-warning -a "$REDIS_PASSWORD"\''
    )
    compose(c, mode, f"exec -e REDIS_PORT={os.environ.get('REDIS_PORT', '6379')} redis {command}")


@task(help={"mode": MODE_HELP})
def shell(c, mode="base"):
    """A Python shell in the cli image, with the stack's settings in its environment."""
    if "cli" in running_services(c, mode):
        compose(c, mode, "--profile tools exec cli python")
    else:
        compose(c, mode, "--profile tools run --rm --entrypoint python cli")


# ---------------------------------------------------------------------------
# SDK playground and load test
# ---------------------------------------------------------------------------


@task(
    help={
        "mode": MODE_HELP,
        "rate": "traces per second, a float (PLAYGROUND_RATE; default 1, e.g. 0.2 or 5)",
        "scenarios": "comma-separated (PLAYGROUND_SCENARIOS; default all): chat, streaming, "
        "rag, agent, manual, rate-limit, timeout",
        "build": "rebuild the playground image first (after changing the code)",
        "stop": "stop the playground instead of starting it",
    }
)
def playground(c, mode="base", rate="", scenarios="", build=False, stop=False):
    """Start the SDK playground: example LLM apps sending traces to the collector, no API key."""
    if stop:
        compose(c, mode, "--profile playground stop sdk-playground")
        return
    if rate:
        try:
            ok = float(rate) > 0
        except ValueError:
            ok = False
        if not ok:
            raise Exit(f"--rate must be a number of traces per second above 0, not {rate!r}", 2)
        os.environ["PLAYGROUND_RATE"] = rate
    if scenarios:
        from llm_observatory.playground.scenarios import SCENARIOS

        unknown = sorted(set(scenarios.split(",")) - set(SCENARIOS))
        if unknown:
            raise Exit(
                f"--scenarios: unknown {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}", 2
            )
        os.environ["PLAYGROUND_SCENARIOS"] = scenarios
    up(c, mode=mode, build=build, services="sdk-playground", profile="playground")
    print(
        "The playground sends traces as service llm-observatory-playground. Follow it with "
        f"`{compose_command(mode, '--profile playground logs --follow sdk-playground')}`."
    )


_DURATION_ARG = re.compile(r"^\d+(s|m|h)?$")


@task(
    help={
        "mode": MODE_HELP,
        "users": "concurrent simulated services (locust users; default 10)",
        "spawn_rate": "users started per second (default: all at once)",
        "duration": "how long to run: 30s, 5m, 1h (default 60s)",
        "spans": "LLM spans per OTLP request (default 100)",
        "web": "serve locust's web UI on LOCUST_PORT (default 8089) instead of a headless run",
    }
)
def load(c, mode="base", users=10, spawn_rate=0, duration="60s", spans=100, web=False):
    """Load the collector with OTLP/HTTP batches of LLM spans (locust); print the summary."""
    if web:
        compose(c, mode, "--profile load run --rm --service-ports load-tester")
        return
    if users < 1 or spans < 1 or spawn_rate < 0:
        raise Exit("--users and --spans must be at least 1, --spawn-rate at least 0", code=2)
    if not _DURATION_ARG.match(duration):
        raise Exit(f"--duration {duration!r}: write it as 30s, 5m or 1h", code=2)
    compose(
        c,
        mode,
        f"--profile load run --rm load-tester --headless --users {users} "
        f"--spawn-rate {spawn_rate or users} --run-time {duration} --spans-per-request {spans}",
    )
