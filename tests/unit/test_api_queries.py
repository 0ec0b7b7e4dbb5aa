"""The API's SQL is derived from the answer models and matches migration 0005's indexes."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

from llm_observatory.api.params import SessionFilter, UsageQuery, UserFilter
from llm_observatory.api.queries import common, groups, hours, usage
from llm_observatory.api.schemas import LogRecord, SessionSummary, Span, UserSummary

MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "src/llm_observatory/storage/migrations/versions/0005_trace_explorer.py"
)


def _migration():
    spec = importlib.util.spec_from_file_location("migration_0005", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_search_expressions_are_the_indexed_ones():
    # The planner uses an expression index only for the same expression, to the letter.
    migration = _migration()
    assert common.expression(common.MESSAGE_SEARCH_VECTOR, "x").replace("x.", "") == (
        migration.MESSAGE_WORDS
    )
    assert common.expression(common.LOG_SEARCH_VECTOR, "l").replace("l.", "") == (
        migration.LOG_WORDS
    )
    definitions = {name: new for name, (new, _) in migration.INDEXES.items()}
    assert migration.MESSAGE_WORDS in definitions["spans_llm_search_idx"]
    assert migration.LOG_WORDS in definitions["log_records_search_idx"]


def test_select_lists_name_every_field_of_their_model():
    for model, expressions in (
        (Span, common.SPAN_EXPRESSIONS),
        (LogRecord, common.LOG_EXPRESSIONS),
    ):
        text = common.select_list(model, "s", expressions).as_string()
        for field in model.model_fields:
            assert f'AS "{field}"' in text, (model, field)
        assert text.count(" AS ") == len(model.model_fields)


def test_group_answers_are_summed_field_by_field():
    for grouping, model in ((groups.SESSIONS, SessionSummary), (groups.USERS, UserSummary)):
        text = grouping.select().as_string()
        for field in model.model_fields:
            assert f'AS "{field}"' in text, (model, field)
        assert f"c.{grouping.column} AS " in text


H = timedelta(hours=1)
T = datetime(2026, 12, 2, 10, tzinfo=UTC)


def test_whole_hours_and_the_edges_left_to_the_calls():
    m = timedelta(minutes=1)
    assert hours.whole_hours(None, None) == ((None, None), [])
    assert hours.whole_hours(T, T + 2 * H) == ((T, T + 2 * H), [])
    assert hours.whole_hours(T + m, T + 2 * H + m) == (
        (T + H, T + 2 * H),
        [(T + m, T + H), (T + 2 * H, T + 2 * H + m)],
    )
    assert hours.whole_hours(T + m, None) == ((T + H, None), [(T + m, T + H)])
    assert hours.whole_hours(None, T - m) == ((None, T - H), [(T - H, T - m)])
    # Within one hour, or across one boundary without a whole hour: calls only.
    assert hours.whole_hours(T + m, T + 2 * m) == (None, [(T + m, T + 2 * m)])
    assert hours.whole_hours(T + m, T + H + m) == (None, [(T + m, T + H + m)])
    # A client's `from` in the last hour there is: no whole hour after it, and no error.
    late = datetime.max.replace(tzinfo=UTC) - 20 * m
    assert hours.whole_hours(late, None) == (None, [(late, None)])


def test_users_read_whole_hours_from_the_rollups_and_the_rest_from_spans():
    def text(filter: UserFilter | SessionFilter, grouping: groups.Grouping) -> str:
        return groups.totals_sql(grouping, filter, "true", {}).as_string()

    assert "FROM spans" not in text(UserFilter(), groups.USERS)
    both = text(UserFilter(start=T + H / 2, end=T + 3 * H), groups.USERS)
    assert "FROM llm_call_rollups" in both and both.count("FROM spans") == 1
    assert "llm_call_rollups" not in text(SessionFilter(), groups.SESSIONS)
    columns = [part.split(" FROM ")[0].count(",") for part in (groups._CALLS, groups._ROLLED_UP)]
    assert columns[0] == columns[1]  # the two kinds of calls line up in UNION ALL


def test_usage_reads_whole_hours_from_the_rollups_unless_its_buckets_are_shorter():
    def text(interval: str, start: datetime, end: datetime) -> str:
        return usage.usage_sql(UsageQuery.parse("model", interval, start, end))[0].as_string()

    whole = text("1h", T, T + 24 * H)
    assert "FROM llm_usage_rollups" in whole and "FROM spans" not in whole
    both = text("1d", T + H / 2, T + 48 * H + H / 2)
    assert "FROM llm_usage_rollups" in both and both.count("FROM spans") == 2
    minutes = text("1m", T, T + 6 * H)
    assert "llm_usage_rollups" not in minutes and minutes.count("FROM spans") == 1
    columns = [part.split(" FROM ")[0].count(",") for part in (usage._CALLS, usage._ROLLED_UP)]
    assert columns[0] == columns[1]  # the two kinds of calls line up in UNION ALL


def test_downgrade_restores_what_0005_replaced():
    migration = _migration()
    replaced = {name for name, (_, before) in migration.INDEXES.items() if before is not None}
    assert replaced == {
        "spans_root_time_idx",
        "spans_model_time_idx",
        "spans_provider_time_idx",
        "spans_llm_usage_idx",
    }
    for name, (new, before) in migration.INDEXES.items():
        assert "WHERE" in new or "log_records" in new, name  # partial where a subset is read
        if before is not None:
            assert before.split(" INCLUDE")[0].split(" WHERE")[0] in new, name
