"""Compose files -> a file `docker stack deploy` accepts, and the secrets it needs.

    docker compose -f docker-compose.yml -f docker-compose.prod.yml \\
        -f docker-compose.swarm.yml --profile monitoring --profile replica \\
        config --format json | python deploy/swarm/stack.py --stack llm-observatory > stack.yml

`invoke swarm-up` does this, creates the secrets and deploys. Why a converter: the stack
loader of the Docker CLI reads the Compose file format 3.x, not the Compose
specification our files use (docs/SCALING.md lists its errors). So Compose renders and
merges the files (overrides, !reset, extends, interpolation), and this turns that model
into a stack file:

- left out: the services the top-level `x-swarm: {skip: [...]}` lists; what the
  loader rejects or Swarm ignores (build, profiles, depends_on, restart, container_name,
  network_mode, shm_size, security_opt, healthcheck.start_interval, ports' host_ip);
  the top-level name and x-*;
  `deploy.restart_policy` is what restarts a task, and its dependencies are retried by
  restarting (the services' own start-up waits, and Swarm's restart policy);
- numbers as the loader wants them: cpus a string, published ports and tmpfs sizes
  integers;
- each `<NAME>_FILE` / `<NAME>__FILE` variable naming `/run/secrets/<secret>`: the
  secret's value is the rendered value of NAME, and NAME is removed from the service, so
  no secret stays in a service's spec; every secret is external, named
  `<stack>_<secret>_<hash of its value>` (a changed value is a new secret, which Swarm
  rolls out), and its value is returned for the caller to create;
- configs named `<stack>_<config>_<hash of the file>` for the same reason;
- the tmpfs list as tmpfs mounts (Swarm accepts the key and mounts nothing); bind
  mounts refused: a node has no checkout (use configs); shm_size without a tmpfs at
  /dev/shm refused (Swarm would drop it silently);
- networks and volumes without Compose's project-prefixed names: the stack prefixes them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

SKIP = "x-swarm"
SECRETS_DIR = "/run/secrets/"
# The loader rejects these service keys, or Swarm ignores them (and says so).
DROPPED_SERVICE_KEYS = (
    "build",
    "profiles",
    "depends_on",
    "pull_policy",
    "restart",
    "container_name",
    "develop",
    "security_opt",
    "shm_size",
)
SHM = "/dev/shm"  # noqa: S108 - the container's shared memory, not a temporary file
FILE_SUFFIXES = ("__FILE", "_FILE")  # Grafana's GF_*__FILE, then everyone else's
STACK_VERSION = "3.9"


class ConversionError(ValueError):
    """The rendered model has something Swarm cannot run as it is."""


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:10]


def convert(
    model: dict[str, Any], stack: str, skip: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, str]]:
    """(stack file, {secret's Swarm name: value}) from `docker compose config --format json`;
    `skip` leaves out more services (no image for them here, say)."""
    problems: list[str] = []
    values: dict[str, str] = {}
    services = {}
    skipped = set((model.get(SKIP) or {}).get("skip") or []) | skip
    for name, service in sorted((model.get("services") or {}).items()):
        if name in skipped:
            continue
        services[name] = _service(name, service, values, problems)
    used_secrets = {s["source"] for svc in services.values() for s in svc.get("secrets", [])}
    used_configs = {c["source"] for svc in services.values() for c in svc.get("configs", [])}

    secrets, created = {}, {}
    for name in sorted(used_secrets):
        if name not in values:
            problems.append(f"secret {name}: no service reads it through a *_FILE variable")
            continue
        value = values[name]
        if not value:
            problems.append(f"secret {name}: its value is empty (Swarm refuses empty secrets)")
            continue
        swarm_name = f"{stack}_{name}_{content_hash(value.encode())}"
        secrets[name] = {"external": True, "name": swarm_name}
        created[swarm_name] = value

    configs = {}
    for name in sorted(used_configs):
        spec = (model.get("configs") or {}).get(name) or {}
        if "file" not in spec:
            problems.append(f"config {name}: only file configs are supported")
            continue
        try:
            data = Path(spec["file"]).read_bytes()
        except OSError as exc:
            problems.append(f"config {name}: cannot read {spec['file']}: {exc.strerror}")
            continue
        configs[name] = {"name": f"{stack}_{name}_{content_hash(data)}", "file": spec["file"]}

    if problems:
        raise ConversionError("\n".join(problems))
    document: dict[str, Any] = {"version": STACK_VERSION, "services": services}
    used_networks = {net for svc in services.values() for net in svc.get("networks") or {}}
    document["networks"] = {
        name: _network(spec)
        for name, spec in sorted((model.get("networks") or {}).items())
        if name in used_networks
    }
    document["volumes"] = {
        name: _without(spec, "name") for name, spec in sorted((model.get("volumes") or {}).items())
    }
    document["secrets"] = secrets
    document["configs"] = configs
    return document, created


def _service(
    name: str, service: dict[str, Any], values: dict[str, str], problems: list[str]
) -> dict[str, Any]:
    service = {k: v for k, v in service.items() if not k.startswith("x-") and v is not None}
    if service.get("network_mode"):
        problems.append(f"{name}: network_mode {service['network_mode']!r} (skip it in Swarm)")
    # Swarm takes the tmpfs key and silently mounts nothing: tmpfs mounts it does mount.
    mounts = service.get("volumes") or []
    mounts += [_tmpfs_mount(entry) for entry in service.pop("tmpfs", None) or []]
    if mounts:
        service["volumes"] = mounts
    if service.get("shm_size") and not any(
        m.get("type") == "tmpfs" and m.get("target") == SHM for m in mounts
    ):
        problems.append(f"{name}: shm_size is ignored by Swarm: mount a tmpfs at /dev/shm")
    for mount in mounts:
        if "size" in (mount.get("tmpfs") or {}):
            mount["tmpfs"]["size"] = int(mount["tmpfs"]["size"])
        if mount.get("type") == "bind":
            problems.append(
                f"{name}: bind mount {mount.get('source')} -> {mount.get('target')}: "
                "a node has no checkout (use a config)"
            )
    for key in (*DROPPED_SERVICE_KEYS, "network_mode"):
        service.pop(key, None)

    secret_names = set()
    for entry in service.get("secrets") or []:
        secret_names.add(entry["source"])
        target = str(entry.get("target") or entry["source"])
        entry["target"] = target.removeprefix(SECRETS_DIR)
    environment = dict(service.get("environment") or {})
    for key, path in list(environment.items()):
        base = next((key[: -len(s)] for s in FILE_SUFFIXES if key.endswith(s)), None)
        if base is None or not isinstance(path, str) or not path.startswith(SECRETS_DIR):
            continue
        secret = path.removeprefix(SECRETS_DIR)
        if secret not in secret_names:
            problems.append(f"{name}: {key} names secret {secret}, which it does not mount")
            continue
        value = environment.pop(base, None)
        if value is None:
            continue
        # Compose writes a literal $ as $$ (the stack loader interpolates as well, and
        # reads the rest of this file that way); a secret's file holds the value itself.
        value = value.replace("$$", "$")
        if values.setdefault(secret, value) != value:
            problems.append(f"secret {secret}: {name}'s {base} differs from another service's")
    service["environment"] = {k: v for k, v in environment.items() if v is not None}

    healthcheck = service.get("healthcheck")
    if healthcheck:
        healthcheck.pop("start_interval", None)
    limits = (service.get("deploy") or {}).get("resources") or {}
    for part in limits.values():
        if isinstance(part, dict) and "cpus" in part:
            part["cpus"] = str(part["cpus"])
    for port in service.get("ports") or []:
        port.pop("host_ip", None)  # Swarm publishes on every node's addresses
        if "published" in port:
            port["published"] = int(port["published"])
    return service


def _tmpfs_mount(entry: str) -> dict[str, Any]:
    """'/run/x' or '/run/x:size=64m,mode=1777' (compose's tmpfs list) as a mount."""
    target, _, options = entry.partition(":")
    mount: dict[str, Any] = {"type": "tmpfs", "target": target}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "size":
            mount.setdefault("tmpfs", {})["size"] = _bytes(value)
        elif key == "mode":
            mount.setdefault("tmpfs", {})["mode"] = int(value, 8)
    return mount


def _bytes(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _network(spec: dict[str, Any]) -> dict[str, Any]:
    network = _without(spec, "name")
    if not network.get("ipam"):
        network.pop("ipam", None)
    return network


def _without(spec: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (spec or {}).items() if k not in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stack", required=True, help="the stack's name (docker stack deploy)")
    parser.add_argument(
        "--secrets-out", help="also write {secret name: value} as JSON to this file (mode 600)"
    )
    parser.add_argument("--skip", default="", help="comma-separated services to leave out")
    args = parser.parse_args(argv)
    skip = frozenset(name for name in args.skip.split(",") if name)
    try:
        document, secrets = convert(json.load(sys.stdin), args.stack, skip)
    except ConversionError as exc:
        print(f"cannot convert for docker stack deploy:\n{exc}", file=sys.stderr)
        return 1
    if args.secrets_out:
        path = Path(args.secrets_out)
        path.touch(mode=0o600)
        path.write_text(json.dumps(secrets))
    yaml.safe_dump(document, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
