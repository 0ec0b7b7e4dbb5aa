"""The budgets file (every error names its line) and the evaluation's periods and sums."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from llm_observatory.storage import budgets
from llm_observatory.storage.budgets import BudgetFileError, parse_budgets
from tests.support import ROOT


def errors_of(text: str) -> list[str]:
    with pytest.raises(BudgetFileError) as caught:
        parse_budgets(text, "b.yml")
    return caught.value.errors


def test_the_shipped_and_the_test_stack_budget_files_are_valid():
    shipped = budgets.load_budgets(ROOT / "docker" / "budgets.yml")
    assert [b.name for b in shipped.budgets] == ["all-llm-daily", "all-llm-monthly"]
    assert {b.scope for b in shipped.budgets} == {"overall"}
    smoke = budgets.load_budgets(ROOT / "tests" / "smoke" / "budgets.test.yml")
    assert smoke.budgets[0].selector == ("service", "budget-smoke")


def test_a_valid_file_with_each_scope():
    config = parse_budgets(
        """
timezone: Europe/Paris
budgets:
  - {name: all, period: daily, limit_usd: 100}
  - {name: bot, period: monthly, limit_usd: 12.5, service: bot}
  - {name: u1, period: daily, limit_usd: 5, user: user-1}
  - {name: m, period: monthly, limit_usd: 1000000, model: gpt-4o}
"""
    )
    assert config.timezone == "Europe/Paris"
    assert [(b.name, b.period, b.limit_usd, b.scope, b.value) for b in config.budgets] == [
        ("all", "daily", Decimal("100"), "overall", None),
        ("bot", "monthly", Decimal("12.5"), "service", "bot"),
        ("u1", "daily", Decimal("5"), "user", "user-1"),
        ("m", "monthly", Decimal("1000000"), "model", "gpt-4o"),
    ]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "budgets:\n", "budgets: []\n"])
def test_an_empty_file_has_no_budgets(text):
    assert parse_budgets(text).budgets == ()


def test_each_error_names_its_line_and_all_are_reported():
    text = """budgets:
  - name: a
    period: weekly
    limit_usd: ten
  - name: b
    period: daily
    limit_usd: 1
    service: x
    model: y
  - name: c
    period: daily
  - name: a b
    period: daily
    limit_usd: -3
    colour: red
"""
    assert errors_of(text) == [
        "b.yml:3: budgets[0] (a): period must be daily or monthly, not 'weekly'",
        "b.yml:4: budgets[0] (a): limit_usd must be a number of USD above 0 and below 1e9, "
        "got 'ten'",
        "b.yml:9: budgets[1] (b): give one of service, user or model (or none: overall), "
        "not service and model",
        "b.yml:10: budgets[2] (c): 'limit_usd' is missing",
        "b.yml:15: budgets[3]: unknown key 'colour' (allowed: limit_usd, model, name, period, "
        "service, user)",
        "b.yml:12: budgets[3].name 'a b': use letters, digits, '.', '_' and '-' only",
        "b.yml:14: budgets[3] (a b): limit_usd must be a number of USD above 0 and below 1e9, "
        "got -3",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("budgets: [\n", "b.yml:2: not valid YAML: expected the node content"),
        ("budgets:\n  - x: 1\n    y: [\n", "b.yml:4: not valid YAML"),
        ("limits: []\n", "b.yml:1: the file: unknown key 'limits'"),
        ("budgets: 3\n", "b.yml:1: budgets must be a list of budgets"),
        ("- 1\n- 2\n", "b.yml:1: the file must be a mapping"),
        ("budgets:\n  - 7\n", "b.yml:2: budgets[0] must be a mapping"),
        ("timezone: Mars/Olympus\n", "b.yml:1: timezone 'Mars/Olympus' is not a known IANA"),
        ("timezone: ../../etc/passwd\n", "b.yml:1: timezone '../../etc/passwd' is not"),
        (
            "budgets:\n  - name: x\n    period: daily\n    limit_usd: 1\n    period: monthly\n",
            "b.yml:5: budgets[0]: 'period' is given twice",
        ),
        (
            "budgets:\n  - {name: x, period: daily, limit_usd: 1}\n"
            "  - {name: x, period: monthly, limit_usd: 2}\n",
            "b.yml:3: budgets[1]: the name 'x' is taken by budgets[0]",
        ),
        (
            "budgets:\n  - {name: x, period: daily, limit_usd: '10'}\n",
            "b.yml:2: budgets[0] (x): limit_usd must be a number",
        ),
        (
            "budgets:\n  - {name: x, period: daily, limit_usd: true}\n",
            "b.yml:2: budgets[0] (x): limit_usd must be a number",
        ),
        (
            "budgets:\n  - {name: x, period: daily, limit_usd: .inf}\n",
            "b.yml:2: budgets[0] (x): limit_usd must be a number",
        ),
        (
            "budgets:\n  - {name: x, period: daily, limit_usd: 1, service: ''}\n",
            "b.yml:2: budgets[0] (x).service must be a non-empty string",
        ),
        (
            "budgets:\n  - {name: x, period: daily, limit_usd: 1, user: [a]}\n",
            "b.yml:2: budgets[0] (x).user must be a non-empty string, got a sequence",
        ),
    ],
)
def test_errors_name_the_line(text, expected):
    found = errors_of(text)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_the_file_is_bounded():
    many = "budgets:\n" + "".join(
        f"  - {{name: b{i}, period: daily, limit_usd: 1}}\n" for i in range(budgets.MAX_BUDGETS + 1)
    )
    assert errors_of(many) == [f"b.yml:2: budgets: at most {budgets.MAX_BUDGETS} budgets, got 201"]
    assert "larger than" in errors_of("#" * (budgets.MAX_FILE_BYTES + 1))[0]
    deep = "budgets: " + "[" * 5000 + "]" * 5000 + "\n"
    assert errors_of(deep)  # refused, not a RecursionError


def test_an_unreadable_file_is_a_budget_file_error(tmp_path):
    with pytest.raises(BudgetFileError, match="cannot read the budgets file"):
        budgets.load_budgets(tmp_path / "missing.yml")
    assert budgets.load_budgets("") == budgets.BudgetsConfig()


def test_periods_start_at_midnight_in_the_files_time_zone():
    paris = ZoneInfo("Europe/Paris")
    # 23:30 UTC on 31 Jan is already 1 Feb in Paris.
    day, next_day, month, next_month = budgets.periods(
        datetime(2026, 1, 31, 23, 30, tzinfo=UTC), paris
    )
    assert (day, next_day) == (
        datetime(2026, 2, 1, tzinfo=paris),
        datetime(2026, 2, 2, tzinfo=paris),
    )
    assert (month, next_month) == (
        datetime(2026, 2, 1, tzinfo=paris),
        datetime(2026, 3, 1, tzinfo=paris),
    )
    day, _, month, next_month = budgets.periods(datetime(2026, 12, 31, 12, tzinfo=UTC), UTC)
    assert (month, next_month) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_one_filter_per_distinct_scope():
    query, params = budgets.spend_query([("overall", None), ("service", "bot"), ("user", "u1")])
    text = query.as_string(None)
    assert text.count("FILTER") == 2
    assert '"service_name" = %s' in text and '"user_id" = %s' in text
    assert "WHERE is_llm AND start_time >= %s AND start_time < %s" in text
    assert params == ["bot", "u1"]


class FakeConnection:
    """Answers the spend query with per-range sums; records the ranges asked for."""

    def __init__(self, sums_by_start: dict[datetime, list[str]]) -> None:
        self.sums = sums_by_start
        self.ranges: list[tuple[datetime, datetime]] = []

    async def execute(self, query, params):
        start, end = params[-2], params[-1]
        self.ranges.append((start, end))
        values = self.sums[start]

        class Cursor:
            async def fetchone(self):
                return values

        return Cursor()


def test_evaluation_adds_todays_spend_to_the_months_closed_days_and_caches_those():
    config = parse_budgets(
        "budgets:\n  - {name: d, period: daily, limit_usd: 10}\n"
        "  - {name: m, period: monthly, limit_usd: 100}\n"
        "  - {name: bot, period: monthly, limit_usd: 5, service: bot}\n"
    )
    evaluator = budgets.BudgetEvaluator(config)
    assert evaluator.selectors == [("overall", None), ("service", "bot")]
    today = datetime(2026, 3, 10, tzinfo=UTC)
    month = datetime(2026, 3, 1, tzinfo=UTC)
    conn = FakeConnection({today: ["2.5", "1"], month: ["40", "4.5"]})
    now = datetime(2026, 3, 10, 15, tzinfo=UTC)
    statuses = asyncio.run(evaluator.evaluate(conn, now))  # type: ignore[arg-type]
    assert [(s.name, s.spend_usd, s.period_start) for s in statuses] == [
        ("d", Decimal("2.5"), today),
        ("m", Decimal("42.5"), month),
        ("bot", Decimal("5.5"), month),
    ]
    assert conn.ranges == [(today, datetime(2026, 3, 11, tzinfo=UTC)), (month, today)]
    # A minute later only today is read again; the closed days come from the cache.
    asyncio.run(evaluator.evaluate(conn, now.replace(minute=1)))  # type: ignore[arg-type]
    assert conn.ranges[2:] == [(today, datetime(2026, 3, 11, tzinfo=UTC))]
    # ... until they are older than closed_refresh.
    evaluator.closed_refresh = 0
    asyncio.run(evaluator.evaluate(conn, now.replace(minute=2)))  # type: ignore[arg-type]
    assert conn.ranges[3:] == [(today, datetime(2026, 3, 11, tzinfo=UTC)), (month, today)]


def test_on_the_first_of_the_month_only_today_is_read():
    config = parse_budgets("budgets:\n  - {name: m, period: monthly, limit_usd: 100}\n")
    first = datetime(2026, 4, 1, tzinfo=UTC)
    conn = FakeConnection({first: ["7"]})
    [status] = asyncio.run(budgets.BudgetEvaluator(config).evaluate(conn, first.replace(hour=9)))  # type: ignore[arg-type]
    assert status.spend_usd == Decimal("7") and len(conn.ranges) == 1


def test_published_gauges_carry_the_budgets_labels():
    status = budgets.BudgetStatus(
        "unit-test-budget", "daily", "model", "gpt-4o", Decimal("10"), Decimal("8.5"),
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), datetime.now(UTC),
    )  # fmt: skip
    budgets.publish([status])
    labels = ("unit-test-budget", "daily", "model", "gpt-4o")
    assert budgets.SPEND.labels(*labels)._value.get() == 8.5
    assert budgets.LIMIT.labels(*labels)._value.get() == 10.0


def test_maintenance_refuses_to_start_on_an_invalid_budgets_file(tmp_path):
    import os
    import subprocess
    import sys

    bad = tmp_path / "budgets.yml"
    bad.write_text("budgets:\n  - name: x\n    period: hourly\n    limit_usd: 5\n")
    result = subprocess.run(
        [sys.executable, "-m", "llm_observatory.storage.maintenance"],
        env={
            **os.environ,
            "BUDGETS_FILE": str(bad),
            # Never reached: the file is checked before the database.
            "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:9/none",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert (
        f"{bad}:3: budgets[0] (x): period must be daily or monthly, not 'hourly'" in result.stderr
    )
