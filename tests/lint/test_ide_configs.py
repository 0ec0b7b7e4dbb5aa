"""The IDE configurations point at what really exists: ports, paths, modules, tasks."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import xml.etree.ElementTree as ET

import tasks
from tests.support.compose_files import ROOT, raw

LAUNCH = ROOT / ".vscode" / "launch.json"
VSCODE_TASKS = ROOT / ".vscode" / "tasks.json"
PYCHARM = sorted((ROOT / ".idea" / "runConfigurations").glob("*.xml"))


def jsonc(path) -> dict:
    return json.loads(re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M))


def invoke_task_names() -> set[str]:
    return {
        name.replace("_", "-")
        for name in dir(tasks)
        if getattr(getattr(tasks, name), "__class__", None).__name__ == "Task"
    }


def assert_names_a_task(command: str) -> None:
    words = shlex.split(command)
    assert "invoke" in words, command
    task = words[words.index("invoke") + 1]
    assert task in invoke_task_names(), f"{command!r}: no invoke task {task!r}"


def test_attach_configurations_match_the_debug_overlay():
    debug = raw(ROOT / "docker-compose.debug.yml")["services"]
    dev = raw(ROOT / "docker-compose.dev.yml")["services"]
    attach = {
        c["name"].split(": ")[1]: c
        for c in jsonc(LAUNCH)["configurations"]
        if c["request"] == "attach"
    }
    assert set(attach) == set(debug), "one attach configuration per debugged service"
    for service, config in attach.items():
        port = int(debug[service]["environment"]["DEBUGPY_PORT"])
        assert config["connect"]["port"] == port, service
        published = debug[service]["ports"][0]
        assert published.endswith(f":{port}") and f":-{port}}}" in published, published
        (mapping,) = config["pathMappings"]
        mount = next(v for v in dev[service]["volumes"] if v.startswith("./src:"))
        assert mapping["remoteRoot"] == mount.split(":")[1], service
        assert mapping["localRoot"] == "${workspaceFolder}/src"


def test_compound_attaches_to_every_service():
    launch = jsonc(LAUNCH)
    names = {c["name"] for c in launch["configurations"] if c["request"] == "attach"}
    (compound,) = launch["compounds"]
    assert set(compound["configurations"]) == names
    tasks_json = jsonc(VSCODE_TASKS)
    assert compound["preLaunchTask"] in {t["label"] for t in tasks_json["tasks"]}


def test_host_launch_modules_exist():
    for config in jsonc(LAUNCH)["configurations"]:
        if config["request"] == "launch":
            assert importlib.util.find_spec(config["module"]), config["name"]


def test_vscode_tasks_run_real_invoke_tasks():
    for task in jsonc(VSCODE_TASKS)["tasks"]:
        assert_names_a_task(task["command"])


def test_pycharm_configurations():
    assert PYCHARM, "no PyCharm run configurations"
    for path in PYCHARM:
        configuration = ET.parse(path).getroot().find("configuration")  # noqa: S314 - our own file
        options = {o.get("name"): o.get("value") for o in configuration.findall("option")}
        if configuration.get("type") == "PythonConfigurationType":
            assert options["MODULE_MODE"] == "true"
            assert importlib.util.find_spec(options["SCRIPT_NAME"]), path.name
        else:
            assert_names_a_task(options["SCRIPT_TEXT"])
