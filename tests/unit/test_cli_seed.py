"""Demo data (cli/demo_data.py): realistic, nested, conversational, correlated, reproducible."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter, defaultdict

from llm_observatory.cli.demo_data import DemoData

END = 1_800_000_000 * 10**9


def _data(count=4000, seed=7, days=7):
    spans, logs = [], []
    for batch_spans, batch_logs in DemoData(seed, days, end_ns=END).batches(count, 1000):
        spans += batch_spans
        logs += batch_logs
    return spans, logs


def _spans(count=4000, seed=7, days=7):
    return _data(count, seed, days)[0]


def test_exact_count_and_reproducible():
    first, second = _data(2500), _data(2500)
    assert len(first[0]) == 2500
    key = [(s.trace_id, s.span_id, s.start_time_unix_nano, s.model, s.cost_usd) for s in first[0]]
    assert key == [
        (s.trace_id, s.span_id, s.start_time_unix_nano, s.model, s.cost_usd) for s in second[0]
    ]
    assert [s.input_messages for s in first[0]] == [s.input_messages for s in second[0]]
    assert [(r.span_id, r.body) for r in first[1]] == [(r.span_id, r.body) for r in second[1]]
    assert _spans(100, seed=8)[0].trace_id != first[0][0].trace_id


def test_traces_are_nested_under_one_root():
    by_trace: dict[str, list] = defaultdict(list)
    for span in _spans():
        by_trace[span.trace_id].append(span)
    for members in by_trace.values():
        roots = [s for s in members if s.parent_span_id is None]
        assert len(roots) == 1
        root = roots[0]
        assert all(s.parent_span_id == root.span_id for s in members if s is not root)
        assert all(
            root.start_time_unix_nano <= s.start_time_unix_nano <= s.end_time_unix_nano
            <= root.end_time_unix_nano
            for s in members
        )  # fmt: skip
    assert max(len(m) for m in by_trace.values()) >= 5


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
    assert any(s.reasoning_tokens for s in llm) and any(s.cache_read_tokens for s in llm)
    assert any(s.reported_cost_usd for s in llm)


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
    assert failed_calls and all(
        s.cost_usd is None and s.output_messages is None for s in failed_calls
    )
    assert all(s.events and s.events[0]["name"] == "exception" for s in failed_calls)
    ok = [s for s in chats if s.status_code == "ok"]
    assert all(s.total_tokens == s.input_tokens + s.output_tokens for s in ok)


def test_messages_are_otel_genai_messages_with_tool_calls():
    chats = [s for s in _spans() if s.operation == "chat" and s.status_code == "ok"]
    part_types = Counter()
    for span in chats:
        assert span.input_messages[0]["role"] == "system"
        assert span.input_messages[0]["parts"][0]["type"] == "text"
        roles = [m["role"] for m in span.input_messages]
        assert set(roles) <= {"system", "user", "assistant", "tool"}
        for m in [*span.input_messages, *span.output_messages]:
            part_types.update(p["type"] for p in m["parts"])
        assert span.output_messages[0]["role"] == "assistant"
        assert span.output_messages[0]["finish_reason"] in {"stop", "tool_calls"}
    assert part_types["text"] and part_types["tool_call"] and part_types["tool_call_response"]
    calls = [
        p for s in chats for m in s.output_messages for p in m["parts"] if p["type"] == "tool_call"
    ]
    assert all(isinstance(p["arguments"], dict) and p["id"] and p["name"] for p in calls)
    # One prompt per turn (the tool round trip repeats it): prose that varies.
    last = {s.trace_id: s.input_messages[-1] for s in chats}
    texts = [m["parts"][0]["content"] for m in last.values() if m["role"] == "user"]
    assert len(set(texts)) > 0.8 * len(texts)
    assert any(s.pii_types == ["email"] for s in chats)


def test_sessions_span_several_traces_in_time_order():
    spans = _spans(8000)
    roots = [s for s in spans if s.parent_span_id is None]
    by_conversation: dict[str, list] = defaultdict(list)
    for root in roots:
        assert root.conversation_id and root.user_id
        by_conversation[root.conversation_id].append(root)
    long = [r for r in by_conversation.values() if len(r) >= 3]
    assert long, "some conversations have several turns"
    for turns in long:
        assert len({r.user_id for r in turns}) == 1
        assert len({r.service_name for r in turns}) == 1
        for earlier, later in itertools.pairwise(turns):
            assert earlier.end_time_unix_nano < later.start_time_unix_nano
    assert len({r.user_id for r in roots}) > 50
    # Every LLM call carries its session and user.
    assert all(s.conversation_id and s.user_id for s in spans if s.is_llm)


def test_log_records_belong_to_spans():
    spans, logs = _data()
    by_id = {s.span_id: s for s in spans}
    assert len(logs) > len(spans) // 2
    for log in logs:
        span = by_id[log.span_id]
        assert log.trace_id == span.trace_id and log.service_name == span.service_name
        assert span.start_time_unix_nano <= log.time_unix_nano <= span.end_time_unix_nano + 10**9
    severities = Counter(log.severity_text for log in logs)
    assert set(severities) >= {"DEBUG", "INFO", "WARN", "ERROR"}


def test_spread_over_the_window():
    starts = [s.start_time_unix_nano for s in _spans(days=3)]
    assert END - min(starts) > 2.5 * 86400 * 10**9
    assert max(starts) <= END


def test_seed_needs_nothing_of_the_collector():
    code = (
        "import sys, llm_observatory.cli.seed; "
        "print(sorted(m for m in sys.modules if m.startswith('llm_observatory.collector')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
