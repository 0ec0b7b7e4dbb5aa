"""Start-up and resource figures against their targets, measured here (`invoke bench`).

    uv run python -m tests.performance.stack_benchmark [--skip-cold]

Runs its own stack under the project name `llmo-bench` with every published port
moved to a free one, so it disturbs nothing else, and removes it at the end. Prints:

| cold start     | no images of ours -> every service healthy   | target < 5 min |
| warm restart   | `down` then `up --wait`, images built        | target < 30 s  |
| hot reload     | a source file saved -> the new process answers | target < 3 s |
(the file is saved in a temporary copy of src/ that the dev stack mounts, never in the
checkout)
| idle RAM       | sum over the stack's containers, 30 s idle   | target < 4 GB  |
| idle CPU       | sum over the stack's containers, idle        | target < 10 %  |
| disk           | the project's own images                     | target < 2 GB  |

"Cold start" rebuilds our images without Docker's layer cache; third-party images are
already on the machine (no registry is reachable here to download them from), and uv's
download cache may hold wheels from earlier builds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import tasks
from tests.support.compose_stack import Stack, env_example, free_port, process_start_time
from tests.support.dev_source import SourceCopy, copy_source

SERVICES = ("collector", "storage", "api")  # and what they depend on


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def present(stack: Stack) -> list[str]:
    config = json.loads(stack.compose("config", "--format", "json").stdout)
    return [name for name in SERVICES if name in config["services"]]


def containers(stack: Stack) -> list[str]:
    return stack.compose("ps", "-q").stdout.split()


def docker_stats(ids: list[str]) -> list[dict]:
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{json .}}", *ids],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def to_bytes(text: str) -> float:
    number, unit = re.match(r"([\d.]+)\s*([A-Za-z]+)", text.strip()).groups()
    return float(number) * _UNITS[unit]


def idle_resources(stack: Stack, settle: float, samples: int) -> tuple[float, float]:
    time.sleep(settle)
    ids = containers(stack)
    memory, cpu = [], []
    for _ in range(samples):
        stats = docker_stats(ids)
        memory.append(sum(to_bytes(s["MemUsage"].split("/")[0]) for s in stats))
        cpu.append(sum(float(s["CPUPerc"].rstrip("%")) for s in stats))
    return statistics.mean(memory), statistics.mean(cpu)


def image_disk(stack: Stack) -> tuple[float, list[str]]:
    images = set(stack.compose("images", "-q").stdout.split())
    ours = []
    total = 0.0
    for image in images:
        info = json.loads(
            subprocess.run(
                ["docker", "image", "inspect", image], capture_output=True, text=True, check=True
            ).stdout
        )[0]
        if any(tag.startswith(f"{stack.project}-") for tag in info.get("RepoTags") or []):
            total += info["Size"]
            ours.extend(info["RepoTags"])
    return total, sorted(ours)


def hot_reload(stack: Stack, source: SourceCopy) -> float:
    metrics = stack.url("collector", 9090, "/metrics")

    def started() -> float | None:
        return process_start_time(metrics, timeout=1)

    before = started()
    module = source.module("llm_observatory/collector/main.py")
    t0 = time.perf_counter()
    module.write_text(module.read_text())  # a save without a change
    while True:
        now = started()
        if now is not None and now != before:
            break
        if time.perf_counter() - t0 > 60:
            raise RuntimeError("the collector did not reload within 60 s")
        time.sleep(0.02)
    health = stack.url("collector", 9090, "/health")
    while True:
        try:
            if urllib.request.urlopen(health, timeout=1).status == 200:
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-cold", action="store_true", help="skip the no-cache rebuild")
    # Past the 60 s start_period, during which healthchecks run every second.
    parser.add_argument("--idle-seconds", type=float, default=90, help="settle before sampling")
    args = parser.parse_args()

    ports = {name: str(free_port()) for name in env_example() if name.endswith("_PORT")}
    base = Stack("base", project="llmo-bench", env=ports)
    scratch = tempfile.TemporaryDirectory(prefix="llmo-bench-src-")
    source = copy_source(Path(scratch.name))
    # Dev mode with the copy mounted where ./src would be.
    tasks.MODES["dev-bench"] = [*tasks.MODES["dev"], str(source.compose_file)]
    dev = Stack("dev-bench", project="llmo-bench", env=ports)
    services = present(base)
    rows: list[tuple[str, str, str]] = []
    try:
        base.down()
        if not args.skip_cold:
            base.compose("down", "--rmi", "local", "--volumes", check=False)
            cold = timed(
                lambda: (
                    base.compose("build", "--no-cache", *services, timeout=1800),
                    base.up(*services),
                )
            )
            rows.append(("cold start (no images, no layer cache)", f"{cold:.0f} s", "< 5 min"))
        else:
            base.up(*services, build=True)
        base.compose("down")  # keep volumes and images
        warm = timed(lambda: base.up(*services))
        rows.append(("warm restart (down, up --wait)", f"{warm:.1f} s", "< 30 s"))
        memory, cpu = idle_resources(base, args.idle_seconds, samples=5)
        rows.append(("idle RAM, all containers", f"{memory / 1024**3:.2f} GiB", "< 4 GB"))
        rows.append(("idle CPU, all containers", f"{cpu:.1f} %", "< 10 %"))
        disk, tags = image_disk(base)
        rows.append(("disk, our images", f"{disk / 1e9:.2f} GB ({len(tags)} images)", "< 2 GB"))
        base.compose("down")
        dev.up(*services, build=True)
        time.sleep(3)
        reloads = [hot_reload(dev, source) for _ in range(3)]
        median = statistics.median(reloads)
        rows.append(("hot reload (save -> new code answering)", f"{median:.2f} s", "< 3 s"))
    finally:
        base.down()
        scratch.cleanup()

    docker_version = subprocess.run(
        ["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    print()
    print(
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} CPUs, {_memory_gib():.0f} GiB, Docker {docker_version}"
    )
    print(f"Services started: {', '.join(services)} and what they depend on")
    print()
    print("| figure | measured | target |")
    print("| --- | --- | --- |")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


if __name__ == "__main__":
    main()
