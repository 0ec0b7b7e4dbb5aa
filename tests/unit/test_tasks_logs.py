"""`invoke logs` (parsed, filtered, merged in time order, readable; --plain is docker
compose's own output) and the status table's UI link. No Docker: compose is stubbed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from invoke import Exit

import tasks

API = json.dumps(
    {
        "user": "admin",
        "event": "ui signed in",
        "service": "api",
        "level": "info",
        "logger": "llm_observatory.api.ui",
        "timestamp": "2026-12-01T22:28:17.876336Z",
    }
)
STORAGE = json.dumps(
    {
        "event": "batch failed",
        "level": "error",
        "logger": "llm_observatory.storage",
        "exception": "Traceback ...\nValueError: bad",
        "timestamp": "2026-12-01T22:28:15.0Z",
    }
)
LINES = [
    f"\x1b[2Kapi-1  | 2026-12-01T22:28:17.876755969Z {API}",
    "timescaledb-1  | 2026-12-01T22:27:34.101118847Z 2026-12-01 22:27:34.100 UTC [112] "
    'ERROR:  functionality not supported under the current "apache" license.',
    "redis-1  | 2026-12-01T22:27:30.000000001Z 1:M 01 Dec 2026 22:27:30.000 * Ready to accept",
    f"storage-1  | 2026-12-01T22:28:15.000000000Z {STORAGE}",
]


def test_a_json_line_reads_as_time_service_level_and_message():
    stamp, service, level, message = tasks.parse_log_line(LINES[0])
    assert (stamp, service, level) == ("2026-12-01T22:28:17.876755969Z", "api", "info")
    assert message == "llm_observatory.api.ui: ui signed in  user=admin"
    assert tasks.format_log_line((stamp, service, level, message)).startswith(
        "22:28:17.876 api            INFO     llm_observatory.api.ui: ui signed in"
    )


def test_other_lines_keep_their_text_and_get_a_level_from_their_words():
    assert tasks.parse_log_line(LINES[1])[1:3] == ("timescaledb", "error")
    assert tasks.parse_log_line(LINES[2])[1:3] == ("redis", "info")
    assert tasks.parse_log_line("Attaching to api-1") is None


def test_an_exception_follows_its_message():
    message = tasks.parse_log_line(LINES[3])[3]
    assert message.endswith("batch failed\nTraceback ...\nValueError: bad")


def run_logs(monkeypatch, capsys, **options) -> tuple[list[str], list[str]]:
    commands = []

    def fake_compose(c, mode, args, **kwargs):
        commands.append(args)
        return SimpleNamespace(stdout="\n".join(LINES) + "\n")

    monkeypatch.setattr(tasks, "compose", fake_compose)
    tasks.logs.body(None, **options)
    return commands, capsys.readouterr().out.splitlines()


def test_merged_output_is_in_time_order_across_services(monkeypatch, capsys):
    commands, out = run_logs(monkeypatch, capsys, service="api,storage,redis,timescaledb")
    assert commands == ["logs --no-color --timestamps --tail 200 api storage redis timescaledb"]
    services = [line.split()[1] for line in out if line[:2].isdigit()]
    assert services == ["redis", "timescaledb", "storage", "api"]


def test_filters_by_least_level_and_text(monkeypatch, capsys):
    _, out = run_logs(monkeypatch, capsys, level="error")
    assert [line.split()[1] for line in out if line[:2].isdigit()] == ["timescaledb", "storage"]
    _, out = run_logs(monkeypatch, capsys, grep="SIGNED IN")
    assert len(out) == 1 and "ui signed in" in out[0]


def test_since_goes_to_compose_and_is_checked(monkeypatch, capsys):
    commands, _ = run_logs(monkeypatch, capsys, since="10m")
    assert "--since 10m" in commands[0]
    for bad in ("yesterday", "10m; rm -rf /"):
        with pytest.raises(Exit):
            run_logs(monkeypatch, capsys, since=bad)
    with pytest.raises(Exit):
        run_logs(monkeypatch, capsys, level="loud")


def test_plain_is_docker_composes_own_output(monkeypatch, capsys):
    commands, _ = run_logs(monkeypatch, capsys, plain=True, service="api", follow=True)
    assert commands == ["logs --tail 200 --follow api"]


def test_following_filters_each_whole_line_as_it_arrives(capsys):
    stream = tasks._FilteredLogStream(tasks.log_filter("warning", ""))
    text = "\n".join(LINES) + "\n"
    stream.write(text[:50])  # half a line: nothing yet
    assert capsys.readouterr().out == ""
    stream.write(text[50:])
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out if line[:2].isdigit()] == ["timescaledb", "storage"]


def test_the_status_table_points_to_the_ui_first():
    api = {
        "Service": "api",
        "Publishers": [
            {"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": 8080},
            {"URL": "127.0.0.1", "TargetPort": 9090, "PublishedPort": 9093},
        ],
    }
    urls = tasks.service_url(api).split("  ")
    assert urls == [
        "http://localhost:8080/",
        "http://localhost:8080/docs",
        "http://localhost:8080/graphql",
    ]
