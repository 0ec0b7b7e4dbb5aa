"""Seeded traces: realistic, nested, varied and reproducible."""

from __future__ import annotations

from collections import Counter

from llm_observatory.cli.seed import TraceFactory
from llm_observatory.core.rows import SPANS

END = 1_800_000_000 * 10**9


def _spans(count=3000, seed=7, days=7):
    return list(TraceFactory(seed, days, end_ns=END).spans(count))


def test_exact_count_and_reproducible():
    first, second = _spans(2500), _spans(2500)
    assert len(first) == 2500
    key = [(s.trace_id, s.span_id, s.start_time_unix_nano, s.model, s.cost_usd) for s in first]
    assert key == [
        (s.trace_id, s.span_id, s.start_time_unix_nano, s.model, s.cost_usd) for s in second
    ]
    assert _spans(100, seed=8)[0].trace_id != first[0].trace_id


def test_traces_are_nested_under_one_root():
    spans = _spans()
    by_trace: dict[str, list] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for members in by_trace.values():
        roots = [s for s in members if s.parent_span_id is None]
        assert len(roots) == 1
        ids = {s.span_id for s in members}
        assert all(s.parent_span_id in ids for s in members if s is not roots[0])
        root = roots[0]
        assert all(
            root.start_time_unix_nano <= s.start_time_unix_nano <= s.end_time_unix_nano
            for s in members
        )
    assert max(len(m) for m in by_trace.values()) >= 6


def test_several_providers_models_and_span_kinds():
    spans = _spans()
    llm = [s for s in spans if s.is_llm]
    assert {s.provider for s in llm} >= {"openai", "anthropic", "gcp.gemini", "mistral_ai"}
    assert len({s.model for s in llm}) >= 8
    operations = Counter(s.operation for s in spans)
    assert operations["chat"] and operations["embeddings"] and operations["execute_tool"]
    assert operations["invoke_agent"]
    assert any(s.name.startswith("vector_search") for s in spans)
    # Agent and tool spans are not LLM calls (their tokens would be counted twice).
    assert not any(s.is_llm for s in spans if s.operation in {"invoke_agent", "execute_tool"})


def test_costs_latencies_and_errors_vary():
    spans = _spans()
    chats = [s for s in spans if s.operation == "chat"]
    costs = [s.cost_usd for s in chats if s.status_code != "error"]
    assert all(c is not None and c > 0 for c in costs)
    assert max(costs) > 20 * min(costs)
    durations = sorted(s.duration_ms for s in chats)
    assert durations[len(durations) * 9 // 10] > 3 * durations[len(durations) // 10]
    errors = [s for s in spans if s.status_code == "error"]
    assert errors and all(s.status_message for s in errors)
    failed_calls = [s for s in chats if s.status_code == "error"]
    assert failed_calls and all(s.cost_usd is None for s in failed_calls)


def test_spread_over_the_window():
    spans = _spans(days=3)
    starts = [s.start_time_unix_nano for s in spans]
    assert END - min(starts) > 2.5 * 86400 * 10**9
    assert max(starts) <= END


def test_rows_are_what_the_storage_writer_takes():
    build = SPANS.row_builder()
    row = build(next(s for s in _spans(50) if s.operation == "chat" and s.cost_usd))
    values = dict(zip(SPANS.column_names, row, strict=True))
    assert values["is_llm"] is True and values["cost_usd"] > 0
    assert values["start_time"].tzinfo is not None
