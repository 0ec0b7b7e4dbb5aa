"""CPU seconds and resident memory of a compose project's containers, from their cgroups.

`docker inspect` gives each container's main process; its /proc/<pid>/cgroup names the
container's cgroup, read under /sys/fs/cgroup: cgroup v1 (`cpuacct.usage` in ns,
`memory.stat` total_rss) or v2 (`cpu.stat` usage_usec, `memory.stat` anon). Reading
these files costs microseconds, so memory can be sampled often during a run. The host's
own /proc/stat and load averages say how busy the whole machine was meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class Container:
    service: str
    name: str
    id: str
    restarts: int
    env: dict[str, str]
    cpu_file: Path | None  # cumulative CPU time
    memory_stat: Path | None
    cgroup_v2: bool

    def cpu_seconds(self) -> float | None:
        if self.cpu_file is None:
            return None
        try:
            text = self.cpu_file.read_text()
        except OSError:
            return None
        if not self.cgroup_v2:
            return int(text) / 1e9
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return None

    def resident_bytes(self) -> int | None:
        """Anonymous memory (RSS) of every process in the container; page cache excluded."""
        if self.memory_stat is None:
            return None
        key = "anon" if self.cgroup_v2 else "total_rss"
        try:
            for line in self.memory_stat.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except OSError:
            return None
        return None


def _cgroup_files(pid: int) -> tuple[Path | None, Path | None, bool]:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None, None, False
    v1: dict[str, str] = {}
    v2_path = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2_path = path
        for controller in controllers.split(","):
            v1[controller] = path
    if "cpuacct" in v1:
        cpu = CGROUP_ROOT / "cpuacct" / v1["cpuacct"].lstrip("/") / "cpuacct.usage"
        memory = CGROUP_ROOT / "memory" / v1.get("memory", "/").lstrip("/") / "memory.stat"
        return (cpu if cpu.exists() else None), (memory if memory.exists() else None), False
    if v2_path is not None:
        base = CGROUP_ROOT / v2_path.lstrip("/")
        cpu, memory = base / "cpu.stat", base / "memory.stat"
        return (cpu if cpu.exists() else None), (memory if memory.exists() else None), True
    return None, None, False


def project_containers(project: str) -> list[Container]:
    """The running containers of a compose project, with their cgroup files."""
    ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not ids:
        return []
    inspected = json.loads(
        subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True
        ).stdout
    )
    containers = []
    for item in inspected:
        cpu, memory, v2 = _cgroup_files(item["State"]["Pid"])
        env = dict(entry.partition("=")[::2] for entry in item["Config"].get("Env") or [])
        containers.append(
            Container(
                service=item["Config"]["Labels"].get("com.docker.compose.service", "?"),
                name=item["Name"].lstrip("/"),
                id=item["Id"],
                restarts=item.get("RestartCount", 0),
                env=env,
                cpu_file=cpu,
                memory_stat=memory,
                cgroup_v2=v2,
            )
        )
    return sorted(containers, key=lambda c: c.service)


def restart_counts(project: str) -> dict[str, int]:
    return {c.service: c.restarts for c in project_containers(project)}


@dataclass(slots=True)
class HostCpu:
    """Busy and total CPU seconds of the whole machine (/proc/stat), and load averages."""

    busy: float
    total: float

    @classmethod
    def now(cls) -> HostCpu:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return cls(busy=(sum(fields) - idle) / tick, total=sum(fields) / tick)


def load_averages() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass(slots=True)
class Usage:
    """CPU seconds per service between `start()` and `stop()`, memory peaks sampled."""

    containers: list[Container]
    interval: float = 0.1
    cpu: dict[str, float] = field(default_factory=dict)
    peak_resident: dict[str, int] = field(default_factory=dict)
    host_busy: float = 0.0
    host_wall: float = 0.0
    _cpu_before: dict[str, float] = field(default_factory=dict)
    _host_before: HostCpu | None = None
    _started: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for container in self.containers:
            seconds = container.cpu_seconds()
            if seconds is not None:
                totals[container.service] = totals.get(container.service, 0.0) + seconds
        return totals

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample_once()

    def _sample_once(self) -> None:
        for container in self.containers:
            resident = container.resident_bytes()
            if resident is not None:
                peak = self.peak_resident.get(container.service, 0)
                self.peak_resident[container.service] = max(peak, resident)

    def start(self) -> None:
        self._cpu_before = self._by_service()
        self._host_before = HostCpu.now()
        self._started = time.monotonic()
        self._sample_once()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample_once()
        after = self._by_service()
        self.cpu = {s: after[s] - self._cpu_before.get(s, after[s]) for s in after}
        host = HostCpu.now()
        assert self._host_before is not None
        self.host_busy = host.busy - self._host_before.busy
        self.host_wall = time.monotonic() - self._started
