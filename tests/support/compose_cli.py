"""Read a `docker compose ...` command line back into what it does, and record the
commands tasks.py runs, so tests check behaviour (files, profiles, service, exec or
run) rather than the spelling of a command string."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from invoke import Context, Result

# Options of docker compose and its subcommands that take a value.
VALUE_OPTIONS = {
    "-p",
    "--project-name",
    "-f",
    "--file",
    "--profile",
    "--entrypoint",
    "-e",
    "--env",
    "-u",
    "--user",
    "-w",
    "--workdir",
    "--tail",
    "--since",
    "--wait-timeout",
    "--exit-code-from",
    "--format",
    "--status",
    "--rmi",
}


@dataclass
class ComposeCall:
    project: str
    files: list[str]
    profiles: list[str]
    subcommand: str
    flags: set[str] = field(default_factory=set)
    options: dict[str, list[str]] = field(default_factory=dict)
    # What follows the options: for run/exec the service then its command, for up the
    # services.
    rest: list[str] = field(default_factory=list)
    redirect: str | None = None

    @property
    def service(self) -> str:
        return self.rest[0]

    @property
    def argv(self) -> list[str]:
        """The command run in the service (run/exec)."""
        return self.rest[1:]


def _options(words: list[str], start: int) -> tuple[set[str], dict[str, list[str]], int]:
    flags: set[str] = set()
    options: dict[str, list[str]] = {}
    i = start
    while i < len(words) and words[i].startswith("-"):
        name, _, inline = words[i].partition("=")
        if name in VALUE_OPTIONS:
            if inline:
                options.setdefault(name, []).append(inline)
                i += 1
            else:
                options.setdefault(name, []).append(words[i + 1])
                i += 2
        else:
            flags.add(words[i])
            i += 1
    return flags, options, i


def parse(command: str) -> ComposeCall:
    words = shlex.split(command)
    redirect = None
    if ">" in words:
        at = words.index(">")
        redirect, words = words[at + 1], words[:at]
    assert words[:2] == ["docker", "compose"], command
    global_flags, global_options, i = _options(words, 2)
    flags, options, j = _options(words, i + 1)
    # Compose also takes --profile after the global options only: a task putting it
    # after the subcommand would fail there, so count only the global ones.
    assert "--profile" not in options, f"--profile after the subcommand: {command}"
    return ComposeCall(
        project=(global_options.get("--project-name") or global_options.get("-p") or [""])[0],
        files=global_options.get("-f", []) + global_options.get("--file", []),
        profiles=global_options.get("--profile", []),
        subcommand=words[i],
        flags=flags | global_flags,
        options=options,
        rest=words[j:],
        redirect=redirect,
    )


class RecordingContext(Context):
    """An invoke Context that runs nothing: it records each command and answers
    `ps --services --status running` with the services it is told are up."""

    def __init__(self, running: set[str] | None = None) -> None:
        super().__init__()
        self.commands: list[str] = []
        self.running = running if running is not None else set()

    def run(self, command: str, **kwargs) -> Result:  # type: ignore[override]
        self.commands.append(command)
        stdout = ""
        if command.startswith("docker compose") and " ps --services --status running" in command:
            stdout = "\n".join(sorted(self.running))
        return Result(stdout=stdout, command=command, exited=0)

    def compose_calls(self, *, including_ps: bool = False) -> list[ComposeCall]:
        calls = [parse(c) for c in self.commands if c.startswith("docker compose")]
        if including_ps:
            return calls
        return [call for call in calls if call.subcommand != "ps"]
