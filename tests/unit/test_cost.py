"""CostCalculator: genai-prices as the source of truth, the user's price file on top."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice

from llm_observatory.collector.processors import cost as cost_module
from llm_observatory.collector.processors.cost import OTEL_TO_GENAI_PRICES_PROVIDER, CostCalculator
from llm_observatory.collector.processors.price_file import load_price_file
from llm_observatory.collector.processors.price_rates import PriceRates
from llm_observatory.core.records import SpanRecord

START_NS = 1_760_000_000_000_000_000  # 2025-10-09


def llm_span(**fields: Any) -> SpanRecord:
    span = SpanRecord(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_span_id=None,
        name="chat",
        kind="client",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 1,
    )
    span.is_llm = True
    for name, value in fields.items():
        setattr(span, name, value)
    if span.model is None:
        span.model = span.response_model or span.request_model
    return span


def expected(model: str, provider_id: str | None, **usage: int) -> float:
    result = calc_price(
        Usage(**usage),
        model,
        provider_id=provider_id,
        genai_request_timestamp=span_time(),
    )
    return float(result.total_price)


def span_time() -> datetime:
    return datetime.fromtimestamp(START_NS / 1e9, UTC)


# --- genai-prices ------------------------------------------------------------------------


def test_known_model_costs_what_genai_prices_computes() -> None:
    span = llm_span(
        provider="openai",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        input_tokens=321,
        output_tokens=45,
    )
    cost = CostCalculator().cost(span)
    assert cost == pytest.approx(
        expected("gpt-4o-2024-08-06", "openai", input_tokens=321, output_tokens=45), rel=1e-9
    )
    # Sanity: gpt-4o lists at a few USD per million tokens, so 366 tokens cost well under
    # a cent and well over nothing.
    assert 0.0001 < cost < 0.01


def test_cache_and_reasoning_tokens_passed_as_parts_not_extra() -> None:
    span = llm_span(
        provider="anthropic",
        request_model="claude-sonnet-4-20250514",
        input_tokens=10_000,
        cache_read_tokens=6_000,
        cache_creation_tokens=2_000,
        output_tokens=1_000,
        reasoning_tokens=400,
    )
    cost = CostCalculator().cost(span)
    assert cost == pytest.approx(
        expected(
            "claude-sonnet-4-20250514",
            "anthropic",
            input_tokens=10_000,
            cache_read_tokens=6_000,
            cache_write_tokens=2_000,
            output_tokens=1_000,
            output_reasoning_tokens=400,
        ),
        rel=1e-9,
    )
    # Cached reads are cheaper than fresh input: counting them as parts of the input
    # must cost less than the same input with no cache hits.
    uncached = llm_span(
        provider="anthropic",
        request_model="claude-sonnet-4-20250514",
        input_tokens=10_000,
        output_tokens=1_000,
    )
    assert cost < CostCalculator().cost(uncached)


def test_cache_reported_outside_input_is_added_to_it() -> None:
    # Anthropic's raw shape: input_tokens excludes the cached tokens (100 < 6000).
    span = llm_span(
        provider="anthropic",
        request_model="claude-3-5-haiku-20241022",
        input_tokens=100,
        cache_read_tokens=6_000,
        output_tokens=50,
    )
    assert CostCalculator().cost(span) == pytest.approx(
        expected(
            "claude-3-5-haiku-20241022",
            "anthropic",
            input_tokens=6_100,
            cache_read_tokens=6_000,
            output_tokens=50,
        ),
        rel=1e-9,
    )


def test_tiered_model_on_both_sides_of_the_tier() -> None:
    calculator = CostCalculator()
    for input_tokens in (1_000, 250_000):
        span = llm_span(
            provider="gcp.gemini",
            request_model="gemini-2.5-pro",
            input_tokens=input_tokens,
            output_tokens=2_000,
        )
        assert calculator.cost(span) == pytest.approx(
            expected("gemini-2.5-pro", "google", input_tokens=input_tokens, output_tokens=2_000),
            rel=1e-9,
        )


def test_fast_rates_match_genai_prices_for_every_bundled_price() -> None:
    """The per-tier rates derived once must price any usage as genai-prices itself does."""
    usages = [
        (0, 0, 0, 0, 0),
        (321, 0, 0, 45, 0),
        (1_000, 200, 100, 500, 100),
        (150_000, 0, 0, 1_000, 0),
        (250_000, 100_000, 5_000, 7_000, 3_000),
        (5_000_000, 0, 0, 10, 0),
    ]
    checked = 0
    for provider in get_snapshot().providers:
        for model in provider.models:
            prices = (
                [model.prices]
                if isinstance(model.prices, ModelPrice)
                else [p.prices for p in model.prices]
            )
            for model_price in prices:
                rates = PriceRates(model_price)
                for counts in usages:
                    i, cr, cw, o, r = counts
                    usage = Usage(
                        input_tokens=i,
                        cache_read_tokens=cr or None,
                        cache_write_tokens=cw or None,
                        output_tokens=o,
                        output_reasoning_tokens=r or None,
                    )
                    want = float(model_price.calc_price(usage)["total_price"])
                    got = rates.cost(counts)
                    assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (
                        provider.id,
                        model.id,
                        counts,
                    )
                    checked += 1
    assert checked > 1000


# --- model fallback and misses -----------------------------------------------------------


def test_response_model_first_then_request_model() -> None:
    span = llm_span(
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini-some-future-snapshot-zzz",  # unknown to genai-prices
        input_tokens=1_000,
        output_tokens=100,
    )
    calculator = CostCalculator()
    assert calculator.cost(span) == pytest.approx(
        expected("gpt-4o-mini", "openai", input_tokens=1_000, output_tokens=100), rel=1e-9
    )
    assert calculator.misses == {}


def test_response_model_preferred_over_request_model() -> None:
    span = llm_span(
        provider="openai",
        request_model="gpt-4o",
        response_model="gpt-4o-mini",
        input_tokens=1_000,
        output_tokens=100,
    )
    assert CostCalculator().cost(span) == pytest.approx(
        expected("gpt-4o-mini", "openai", input_tokens=1_000, output_tokens=100), rel=1e-9
    )


def test_unknown_model_gives_none_and_records_a_miss() -> None:
    seen: list[tuple[str | None, str | None]] = []
    calculator = CostCalculator(on_miss=lambda provider, model: seen.append((provider, model)))
    span = llm_span(
        provider="openai", request_model="my-finetune-xyz", input_tokens=10, output_tokens=5
    )
    assert calculator.cost(span) is None
    assert calculator.cost(span) is None  # the cached "unknown" still counts
    assert calculator.misses == {("openai", "my-finetune-xyz"): 2}
    assert seen == [("openai", "my-finetune-xyz")] * 2


def test_known_provider_does_not_fall_back_to_other_providers() -> None:
    span = llm_span(provider="anthropic", request_model="gpt-4o", input_tokens=10, output_tokens=5)
    assert CostCalculator().cost(span) is None


def test_openai_provider_falls_back_to_the_model_name() -> None:
    # The OpenAI SDK pointed at DeepSeek's API: instrumentations still say "openai".
    span = llm_span(
        provider="openai", request_model="deepseek-chat", input_tokens=10, output_tokens=5
    )
    assert CostCalculator().cost(span) == pytest.approx(
        expected("deepseek-chat", "deepseek", input_tokens=10, output_tokens=5), rel=1e-9
    )
    # A self-hosted open model behind the same SDK matches no provider.
    self_hosted = llm_span(
        provider="openai", request_model="llama-3.1-70b-instruct", input_tokens=10, output_tokens=5
    )
    assert CostCalculator().cost(self_hosted) is None


def test_unknown_provider_looks_up_by_model_alone() -> None:
    span = llm_span(
        provider="some-gateway", request_model="claude-3-5-haiku-20241022", input_tokens=10
    )
    assert CostCalculator().cost(span) == pytest.approx(
        expected("claude-3-5-haiku-20241022", None, input_tokens=10), rel=1e-9
    )


def test_no_usage_or_not_llm_gives_none_without_a_miss() -> None:
    calculator = CostCalculator()
    no_usage = llm_span(provider="openai", request_model="gpt-4o")
    not_llm = llm_span(provider="openai", request_model="gpt-4o", input_tokens=5)
    not_llm.is_llm = False
    no_model = llm_span(provider="openai", input_tokens=5)
    assert calculator.cost(no_usage) is None
    assert calculator.cost(not_llm) is None
    assert calculator.cost(no_model) is None
    assert calculator.misses == {}


# --- provider mapping --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("otel_provider", "genai_id", "model"),
    [
        ("x_ai", "x-ai", "grok-3"),
        ("mistral_ai", "mistral", "mistral-large-latest"),
        ("gcp.gemini", "google", "gemini-2.0-flash"),
        ("gcp.vertex_ai", "google", "gemini-2.0-flash"),
        ("aws.bedrock", "aws", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("azure.ai.openai", "azure", "gpt-4o"),
        ("groq", "groq", "llama-3.3-70b-versatile"),
        ("deepseek", "deepseek", "deepseek-chat"),
    ],
)
def test_otel_provider_names_map_to_genai_prices_ids(
    otel_provider: str, genai_id: str, model: str
) -> None:
    assert OTEL_TO_GENAI_PRICES_PROVIDER.get(otel_provider, otel_provider) == genai_id
    span = llm_span(
        provider=otel_provider, request_model=model, input_tokens=1_000, output_tokens=1_000
    )
    calculator = CostCalculator()
    cost = calculator.cost(span)
    assert cost == pytest.approx(
        expected(model, genai_id, input_tokens=1_000, output_tokens=1_000), rel=1e-9
    )
    assert cost > 0
    assert calculator.misses == {}


def test_every_mapped_provider_id_exists_in_genai_prices() -> None:
    known = {provider.id for provider in get_snapshot().providers}
    assert set(OTEL_TO_GENAI_PRICES_PROVIDER.values()) <= known


# --- the user's price file ---------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


YAML_PRICES = """
models:
  - provider: self-hosted
    model: llama-3.1-70b-instruct
    input_per_mtok: 0.20
    output_per_mtok: 0.60
    cache_read_per_mtok: 0.02
  - model: gpt-4o
    input_per_mtok: 1
    output_per_mtok: 2
"""


def test_price_file_adds_a_model(tmp_path: Path) -> None:
    calculator = CostCalculator(write(tmp_path, "prices.yaml", YAML_PRICES))
    span = llm_span(
        provider="self-hosted",
        request_model="llama-3.1-70b-instruct",
        input_tokens=2_000_000,
        cache_read_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    # 1M fresh input at 0.20 + 1M cached at 0.02 + 1M output at 0.60
    assert calculator.cost(span) == pytest.approx(0.82)


def test_price_file_wins_over_genai_prices_for_any_provider(tmp_path: Path) -> None:
    calculator = CostCalculator(write(tmp_path, "prices.yaml", YAML_PRICES))
    span = llm_span(
        provider="openai",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",  # genai-prices knows this; the file names the alias
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    assert calculator.cost(span) == pytest.approx(3.0)


def test_price_file_provider_entry_only_matches_that_provider(tmp_path: Path) -> None:
    calculator = CostCalculator(write(tmp_path, "prices.yaml", YAML_PRICES))
    span = llm_span(
        provider="openai", request_model="llama-3.1-70b-instruct", input_tokens=10, output_tokens=1
    )
    assert calculator.cost(span) is None


def test_price_file_json(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "prices.json",
        json.dumps({"models": [{"model": "My-Model", "input_per_mtok": 4, "output_per_mtok": 8}]}),
    )
    calculator = CostCalculator(path)
    span = llm_span(provider=None, request_model="my-model", input_tokens=500_000, output_tokens=0)
    assert calculator.cost(span) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("models: [{model: m, input_per_mtok: -1, output_per_mtok: 1}]", "input_per_mtok"),
        ("models: [{model: m, input_per_mtok: 1}]", "output_per_mtok"),
        ("models: [{model: m, input_per_mtok: 1, output_per_mtok: cheap}]", "output_per_mtok"),
        ("models: [{input_per_mtok: 1, output_per_mtok: 1}]", "'model'"),
        ("models: [{model: m, input_per_mtok: 1, output_per_mtok: 1, imput: 2}]", "imput"),
        ("models: [{model: m, input_per_mtok: true, output_per_mtok: 1}]", "input_per_mtok"),
        ("models: [oops]", "models[0]"),
        ("prices: []", "'models' list"),
        ("models: [{model: m, input_per_mtok: 1, output_per_mtok: 1}, "
         "{model: M, input_per_mtok: 2, output_per_mtok: 2}]", "duplicate"),
        ("models: [{model: m", "invalid YAML"),
    ],
)  # fmt: skip
def test_bad_price_file_raises_naming_file_and_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ValueError, match=r"bad\.yaml") as error:
        CostCalculator(path)
    assert problem in str(error.value)


def test_missing_price_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_price_file(tmp_path / "absent.yaml")


# --- caching -------------------------------------------------------------------------------


def test_resolution_cached_but_tokens_priced_per_span() -> None:
    calculator = CostCalculator()
    calls = 0
    resolve = calculator._resolve

    def counting_resolve(*key: Any) -> Any:
        nonlocal calls
        calls += 1
        return resolve(*key)

    calculator._resolve = counting_resolve  # type: ignore[method-assign]
    small = llm_span(provider="openai", request_model="gpt-4o", input_tokens=10, output_tokens=1)
    large = llm_span(
        provider="openai", request_model="gpt-4o", input_tokens=10_000, output_tokens=1_000
    )
    first = calculator.cost(small)
    second = calculator.cost(large)
    assert calls == 1
    assert second == pytest.approx(
        expected("gpt-4o", "openai", input_tokens=10_000, output_tokens=1_000), rel=1e-9
    )
    assert second > first


def test_caches_and_miss_counts_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost_module, "_CACHE_MAX", 8)
    monkeypatch.setattr(cost_module, "_MISS_KEYS_MAX", 4)
    calculator = CostCalculator()
    for index in range(50):  # a client sending a new model name on every span
        calculator.cost(llm_span(provider="openai", request_model=f"junk-{index}", input_tokens=1))
    assert len(calculator._resolved) <= 8
    assert len(calculator.misses) == 5  # four named, the rest under one overflow key
    assert sum(calculator.misses.values()) == 50


def test_price_in_force_at_the_span_start_is_used() -> None:
    # genai-prices lists o3 with a price cut from 2025-06-10.
    def o3_span(start_ns: int) -> SpanRecord:
        span = llm_span(
            provider="openai", request_model="o3", input_tokens=1_000, output_tokens=1_000
        )
        span.start_time_unix_nano = start_ns
        return span

    before_ns = 1_735_689_600 * 10**9  # 2025-01-01
    after_ns = 1_760_000_000 * 10**9  # 2025-10-09
    calculator = CostCalculator()
    before = calculator.cost(o3_span(before_ns))
    after = calculator.cost(o3_span(after_ns))
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    for cost, start_ns in ((before, before_ns), (after, after_ns)):
        when = datetime.fromtimestamp(start_ns / 1e9, UTC)
        want = calc_price(usage, "o3", provider_id="openai", genai_request_timestamp=when)
        assert cost == pytest.approx(float(want.total_price), rel=1e-9)
    assert before > after
    # A start time no datetime can hold prices at today's rate instead of failing.
    assert calculator.cost(o3_span(10**30)) == pytest.approx(after, rel=1e-9)


def test_cost_never_raises(monkeypatch) -> None:
    warnings: list[tuple[str, dict]] = []

    class Log:
        def warning(self, event: str, **fields: Any) -> None:
            warnings.append((event, fields))

    monkeypatch.setattr(cost_module, "log", Log())
    calculator = CostCalculator()
    odd = llm_span(provider="openai", request_model="gpt-4o", input_tokens=10, output_tokens=1)
    odd.input_tokens = "ten"  # type: ignore[assignment]  # not what genai.py produces
    assert calculator.cost(odd) is None
    assert calculator.cost(odd) is None
    # One warning per model, not one per span.
    assert [(event, f["model"]) for event, f in warnings] == [("cost calculation failed", "gpt-4o")]
    assert calculator.cost(llm_span(provider="openai", request_model="gpt-4o")) is None
    assert len(warnings) == 1
