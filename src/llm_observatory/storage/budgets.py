"""Budgets: USD limits on LLM spend per day or month, overall or per service, user or model.

The budgets file (BUDGETS_FILE, docker/budgets.yml in the stack) is validated when
maintenance starts: every error names its line, and maintenance refuses to start on
a file it cannot use (a budget silently ignored is a bill nobody was warned about).

Maintenance evaluates the budgets every BUDGET_INTERVAL from `spans.cost_usd` (what
the collector priced): one index-only scan of today's LLM calls over
`spans_llm_usage_idx` (start time, INCLUDE service, model, user, cost) gives every
budget's spend at once, one FILTER per distinct scope. A month's closed days change
rarely (late exports only), so their sums are kept and read again once an hour:
a minute's work stays one day of index entries, however far the month has gone.
The results go to gauges (labels bounded by the file) and to `budget_status`, which
the API reads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
import yaml
from prometheus_client import Counter, Gauge
from psycopg import sql

Period = Literal["daily", "monthly"]
Scope = Literal["overall", "service", "user", "model"]

PERIODS: tuple[Period, ...] = ("daily", "monthly")
# Scope -> the spans column it filters on.
SCOPE_COLUMNS: dict[str, str] = {"service": "service_name", "user": "user_id", "model": "model"}
BUDGET_KEYS = frozenset({"name", "period", "limit_usd", *SCOPE_COLUMNS})
FILE_KEYS = frozenset({"budgets", "timezone"})

# Each budget is a pair of series: the file bounds the label set, and these bound the file.
MAX_BUDGETS = 200
MAX_FILE_BYTES = 1024 * 1024
MAX_LIMIT_USD = Decimal(10) ** 9  # numeric(18, 9)
MAX_VALUE_LENGTH = 256
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Closed days of the month are summed again after this long (late exports).
CLOSED_DAYS_REFRESH_SECONDS = 3600.0

_LABELS = ["budget", "period", "scope", "scope_value"]
SPEND = Gauge(
    "llmo_budget_spend_usd",
    "USD spent so far in the budget's current period (day or month, BUDGETS_FILE).",
    _LABELS,
)
LIMIT = Gauge("llmo_budget_limit_usd", "The budget's limit for its period, in USD.", _LABELS)
EVALUATED = Gauge(
    "llmo_budget_evaluated_timestamp_seconds", "When the budgets were last evaluated (Unix time)."
)
FAILURES = Counter("llmo_budget_evaluation_failures", "Budget evaluations that failed.")


class BudgetFileError(ValueError):
    """The budgets file cannot be used; `errors` holds one line per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Budget:
    name: str
    period: Period
    limit_usd: Decimal
    scope: Scope = "overall"
    value: str | None = None

    @property
    def selector(self) -> tuple[str, str | None]:
        return self.scope, self.value


@dataclass(frozen=True)
class BudgetsConfig:
    budgets: tuple[Budget, ...] = ()
    timezone: str = "UTC"

    @property
    def tz(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)


# --- the file ---------------------------------------------------------------------------


class _Checker:
    """Walks the composed YAML nodes, so each problem is reported with its line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node, message: str) -> None:
        self.errors.append(f"{self.source}:{node.start_mark.line + 1}: {message}")

    def mapping(self, node: yaml.Node, where: str, allowed: frozenset[str]) -> dict:
        """{key: value node} of a mapping node; errors for other keys and repeated ones."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{where} must be a mapping of {', '.join(sorted(allowed))}")
            return {}
        found: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str) or key not in allowed:
                self.error(
                    key_node,
                    f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
                )
            elif key in found:
                self.error(key_node, f"{where}: {key!r} is given twice")
            else:
                found[key] = value_node
        return found

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return node  # the caller reports what it expected
        return self.constructor.construct_object(node)

    def text(self, node: yaml.Node, where: str, max_length: int = MAX_VALUE_LENGTH) -> str | None:
        value = self.scalar(node)
        if not isinstance(value, str) or not value.strip():
            self.error(node, f"{where} must be a non-empty string, got {_shown(value)}")
            return None
        if len(value) > max_length:
            self.error(node, f"{where} is longer than {max_length} characters")
            return None
        return value

    def budget(self, node: yaml.Node, index: int) -> Budget | None:
        where = f"budgets[{index}]"
        keys = self.mapping(node, where, BUDGET_KEYS)
        if not keys:
            return None
        count = len(self.errors)
        name = None
        if "name" not in keys:
            self.error(node, f"{where}: 'name' is missing")
        else:
            name = self.text(keys["name"], f"{where}.name", 64)
            if name is not None and not NAME.match(name):
                self.error(
                    keys["name"],
                    f"{where}.name {name!r}: use letters, digits, '.', '_' and '-' only",
                )
            where = f"budgets[{index}] ({name})" if name else where
        period = None
        if "period" not in keys:
            self.error(node, f"{where}: 'period' is missing (daily or monthly)")
        else:
            period = self.scalar(keys["period"])
            if period not in PERIODS:
                self.error(
                    keys["period"],
                    f"{where}: period must be daily or monthly, not {_shown(period)}",
                )
        limit = None
        if "limit_usd" not in keys:
            self.error(node, f"{where}: 'limit_usd' is missing")
        else:
            limit = self.limit(keys["limit_usd"], where)
        scopes = [key for key in SCOPE_COLUMNS if key in keys]
        scope: str = "overall"
        value = None
        if len(scopes) > 1:
            self.error(
                keys[scopes[1]],
                f"{where}: give one of service, user or model (or none: overall), "
                f"not {' and '.join(scopes)}",
            )
        elif scopes:
            scope = scopes[0]
            value = self.text(keys[scope], f"{where}.{scope}")
        if len(self.errors) > count or name is None or limit is None:
            return None
        return Budget(name, period, limit, scope, value)  # type: ignore[arg-type]

    def limit(self, node: yaml.Node, where: str) -> Decimal | None:
        value = self.scalar(node)
        amount = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite() or amount <= 0 or amount >= MAX_LIMIT_USD:
            self.error(
                node,
                f"{where}: limit_usd must be a number of USD above 0 and below 1e9, "
                f"got {_shown(value)}",
            )
            return None
        return amount

    def timezone(self, node: yaml.Node) -> str:
        value = self.text(node, "timezone", 64)
        if value is None or value == "UTC":
            return "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.error(
                node, f"timezone {value!r} is not a known IANA time zone (e.g. Europe/Paris)"
            )
            return "UTC"
        return value


def _shown(value: Any) -> str:
    if isinstance(value, yaml.Node):
        return f"a {type(value).__name__.removesuffix('Node').lower()}"
    return repr(value)[:80]


def parse_budgets(text: str, source: str = "budgets file") -> BudgetsConfig:
    """The budgets of a file's text; BudgetFileError with every problem and its line."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise BudgetFileError([f"{source}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise BudgetFileError([f"{source}{line}: not valid YAML: {exc.problem}"]) from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise BudgetFileError([f"{source}: not valid YAML: {type(exc).__name__}"]) from exc
    if root is None:  # an empty file: no budgets
        return BudgetsConfig()
    check = _Checker(source)
    keys = check.mapping(root, "the file", FILE_KEYS)
    timezone = check.timezone(keys["timezone"]) if "timezone" in keys else "UTC"
    budgets: list[Budget] = []
    items = keys.get("budgets")
    if isinstance(items, yaml.SequenceNode):
        if len(items.value) > MAX_BUDGETS:
            check.error(items, f"budgets: at most {MAX_BUDGETS} budgets, got {len(items.value)}")
        seen: dict[str, int] = {}
        for index, item in enumerate(items.value[:MAX_BUDGETS]):
            budget = check.budget(item, index)
            if budget is None:
                continue
            if budget.name in seen:
                check.error(
                    item,
                    f"budgets[{index}]: the name {budget.name!r} is taken by "
                    f"budgets[{seen[budget.name]}]",
                )
                continue
            seen[budget.name] = index
            budgets.append(budget)
    elif items is not None and not (isinstance(items, yaml.ScalarNode) and items.value == ""):
        check.error(items, "budgets must be a list of budgets (- name: ...)")
    if check.errors:
        raise BudgetFileError(check.errors)
    return BudgetsConfig(tuple(budgets), timezone)


def load_budgets(path: str | Path) -> BudgetsConfig:
    """BUDGETS_FILE's budgets; empty path: none. BudgetFileError names what is wrong."""
    if not str(path):
        return BudgetsConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetFileError([f"{path}: cannot read the budgets file: {exc}"]) from exc
    return parse_budgets(text, str(path))


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    name: str
    period: Period
    scope: Scope
    scope_value: str | None
    limit_usd: Decimal
    spend_usd: Decimal
    period_start: datetime
    period_end: datetime
    evaluated_at: datetime

    @property
    def labels(self) -> tuple[str, str, str, str]:
        return self.name, self.period, self.scope, self.scope_value or ""


def periods(now: datetime, tz: tzinfo) -> tuple[datetime, datetime, datetime, datetime]:
    """(day start, next day, month start, next month) around `now`, in `tz`."""
    local = now.astimezone(tz)

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=tz)

    today = local.date()
    month = today.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return (
        midnight(today),
        midnight(today + timedelta(days=1)),
        midnight(month),
        midnight(next_month),
    )


def spend_query(selectors: Sequence[tuple[str, str | None]]) -> tuple[sql.Composed, list[Any]]:
    """One scan of the LLM calls in [%s, %s) summing the cost of each selector."""
    columns: list[sql.Composable] = []
    params: list[Any] = []
    for scope, value in selectors:
        if scope == "overall":
            columns.append(sql.SQL("coalesce(sum(cost_usd), 0)"))
        else:
            columns.append(
                sql.SQL("coalesce(sum(cost_usd) FILTER (WHERE {} = %s), 0)").format(
                    sql.Identifier(SCOPE_COLUMNS[scope])
                )
            )
            params.append(value)
    query = sql.SQL(
        "SELECT {} FROM spans WHERE is_llm AND start_time >= %s AND start_time < %s"
    ).format(sql.SQL(", ").join(columns))
    return query, params


@dataclass
class BudgetEvaluator:
    config: BudgetsConfig
    closed_refresh: float = CLOSED_DAYS_REFRESH_SECONDS
    _closed: tuple[tuple[datetime, datetime], list[Decimal], float] | None = field(
        default=None, repr=False
    )

    @property
    def selectors(self) -> list[tuple[str, str | None]]:
        return list(dict.fromkeys(b.selector for b in self.config.budgets))

    async def _sums(
        self, conn: psycopg.AsyncConnection, start: datetime, end: datetime
    ) -> list[Decimal]:
        query, params = spend_query(self.selectors)
        cursor = await conn.execute(query, [*params, start, end])
        row = await cursor.fetchone()
        return [Decimal(value) for value in row] if row else [Decimal(0)] * len(self.selectors)

    async def evaluate(
        self, conn: psycopg.AsyncConnection, now: datetime | None = None
    ) -> list[BudgetStatus]:
        if not self.config.budgets:
            return []
        now = now or datetime.now(UTC)
        day_start, next_day, month_start, next_month = periods(now, self.config.tz)
        today = await self._sums(conn, day_start, next_day)
        closed = [Decimal(0)] * len(today)
        if month_start < day_start and any(b.period == "monthly" for b in self.config.budgets):
            closed = await self._closed_days(conn, month_start, day_start)
        index = {selector: i for i, selector in enumerate(self.selectors)}
        statuses = []
        for budget in self.config.budgets:
            i = index[budget.selector]
            daily = budget.period == "daily"
            statuses.append(
                BudgetStatus(
                    name=budget.name,
                    period=budget.period,
                    scope=budget.scope,
                    scope_value=budget.value,
                    limit_usd=budget.limit_usd,
                    spend_usd=today[i] if daily else today[i] + closed[i],
                    period_start=day_start if daily else month_start,
                    period_end=next_day if daily else next_month,
                    evaluated_at=now,
                )
            )
        return statuses

    async def _closed_days(
        self, conn: psycopg.AsyncConnection, start: datetime, end: datetime
    ) -> list[Decimal]:
        cached = self._closed
        fresh = time.monotonic()
        if cached and cached[0] == (start, end) and fresh - cached[2] < self.closed_refresh:
            return cached[1]
        sums = await self._sums(conn, start, end)
        self._closed = ((start, end), sums, fresh)
        return sums


STATUS_COLUMNS = (
    "name",
    "period",
    "scope",
    "scope_value",
    "limit_usd",
    "spend_usd",
    "period_start",
    "period_end",
    "evaluated_at",
)


async def write_status(conn: psycopg.AsyncConnection, statuses: Sequence[BudgetStatus]) -> None:
    """Replace `budget_status` with these, in one transaction (a removed budget goes)."""
    insert = sql.SQL("INSERT INTO budget_status ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, STATUS_COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(STATUS_COLUMNS)),
    )
    async with conn.transaction():
        await conn.execute("DELETE FROM budget_status")
        async with conn.cursor() as cursor:
            await cursor.executemany(
                insert, [[getattr(s, c) for c in STATUS_COLUMNS] for s in statuses]
            )


def publish(statuses: Sequence[BudgetStatus]) -> None:
    for status in statuses:
        SPEND.labels(*status.labels).set(float(status.spend_usd))
        LIMIT.labels(*status.labels).set(float(status.limit_usd))
    EVALUATED.set(time.time())
