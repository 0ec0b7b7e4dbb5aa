"""Every `invoke` and `docker compose` command the documents show names real things."""

from __future__ import annotations

import re
import shlex

import pytest

import tasks
from tests.support.compose_files import COMPOSE_FILES, ROOT, raw

DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "docker" / "README.md", *(ROOT / "docs").glob("*.md")]
)
FENCE = re.compile(r"```([a-z]*)\n(.*?)```", re.S)
# Shell blocks, or blocks without a language; ```text or ```sql blocks are not commands.
SHELL = {"", "bash", "sh", "shell", "console"}
INLINE = re.compile(r"`([^`\n]+)`")
# Compose subcommands whose next words are service names.
TAKES_SERVICES = {"up", "run", "exec", "logs", "restart", "build", "start", "stop", "ps", "pull"}
COMPOSE_GLOBAL_WITH_VALUE = {"-f", "--file", "-p", "--project-name", "--profile", "--env-file"}
SUBCOMMAND_WITH_VALUE = {"--tail", "-e", "--env", "--scale", "--wait-timeout", "-u", "--user"}


def commands(text: str) -> list[str]:
    found = []
    for language, block in FENCE.findall(text):
        if language not in SHELL:
            continue
        joined = re.sub(r"\\\n\s*", " ", block)
        found += [line.split(" #")[0].strip() for line in joined.splitlines()]
    without_fences = FENCE.sub("", text)
    found += INLINE.findall(without_fences)
    return [c for c in found if re.search(r"\binvoke\s+[a-z]|docker compose\s", c)]


def all_commands() -> list[tuple[str, str]]:
    return [
        (path.relative_to(ROOT).as_posix(), command)
        for path in DOCUMENTS
        for command in commands(path.read_text())
    ]


def task_arguments() -> dict[str, set[str]]:
    found = {}
    for name in dir(tasks):
        obj = getattr(tasks, name)
        if obj.__class__.__name__ == "Task":
            params = obj.argspec(obj.body).parameters
            found[name.replace("_", "-")] = {p.replace("_", "-") for p in params if p != "c"}
    return found


def compose_facts() -> tuple[set[str], set[str]]:
    services, profiles = set(), set()
    for path in COMPOSE_FILES:
        for name, service in (raw(path).get("services") or {}).items():
            services.add(name)
            profiles.update(service.get("profiles") or [])
    return services, profiles


COMMANDS = all_commands()


def test_documents_show_commands():
    assert len(COMMANDS) > 20, "the documents should show how to use the stack"


@pytest.mark.parametrize(("document", "command"), COMMANDS, ids=[c for _, c in COMMANDS])
def test_command_names_real_things(document, command):
    for segment in re.split(r"\s*(?:&&|;|\|)\s*", command):
        words = shlex.split(segment.replace("$(", "").replace(")", ""))
        if "invoke" in words:
            check_invoke(words[words.index("invoke") + 1 :], document)
        if words[:2] == ["docker", "compose"]:
            check_compose(words[2:], document)


def check_invoke(words: list[str], document: str) -> None:
    if not words or words[0].startswith("-"):
        return  # `invoke --list`, `invoke --help TASK`
    arguments = task_arguments()
    task, rest = words[0], words[1:]
    assert task in arguments, f"{document}: no invoke task {task!r}"
    for word in rest:
        if word.startswith("--"):
            flag = word[2:].split("=", 1)[0]
            known = arguments[task]
            # --no-X negates a boolean X that defaults to true.
            assert flag in known or flag.removeprefix("no-") in known, (
                f"{document}: invoke {task} has no --{flag}"
            )


def check_compose(words: list[str], document: str) -> None:
    services, profiles = compose_facts()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        option, value = words[i], words[i + 1] if i + 1 < len(words) else ""
        if option in ("-f", "--file"):
            assert (ROOT / value).exists(), f"{document}: no compose file {value}"
        if option == "--profile" and value != "*":
            assert value in profiles, f"{document}: no profile {value!r}"
        i += 2 if option in COMPOSE_GLOBAL_WITH_VALUE else 1
    if i >= len(words):
        return
    subcommand, rest = words[i], words[i + 1 :]
    if subcommand not in TAKES_SERVICES:
        return
    j = 0
    while j < len(rest):
        word = rest[j]
        if word.startswith("-"):
            j += 2 if word in SUBCOMMAND_WITH_VALUE else 1
            continue
        assert word in services, f"{document}: no service {word!r} in `{' '.join(words)}`"
        if subcommand in {"run", "exec"}:
            break  # what follows is the command run in the service
        j += 1
