"""The USD cost of an LLM span, from the maintained `genai-prices` data or the user's prices.

Lookup, per span:

1. the user's price file (``COST_PRICE_FILE``), which wins over genai-prices: an entry
   for (provider, model), else an entry for the model with no provider;
2. genai-prices, with the span's provider mapped to a genai-prices provider id.

Each step tries the response model first (often a dated snapshot such as
``gpt-4o-2024-08-06``), then the request model (an alias such as ``gpt-4o``). A
provider genai-prices does not know (``ibm.watsonx.ai``, ``ollama``...) is looked up
without a provider, by the model name alone. A provider it does know is kept:
``anthropic`` + ``gpt-4o`` has no price rather than OpenAI's. Except ``openai``, which
OpenAI instrumentations report for every OpenAI-compatible server: a model OpenAI does
not sell is then looked up by name alone (``deepseek-chat`` -> DeepSeek; a self-hosted
``llama-3.1-70b`` matches nothing).

Token semantics. OTel counts cached tokens inside ``gen_ai.usage.input_tokens`` and
reasoning tokens inside ``gen_ai.usage.output_tokens``; genai-prices' ``Usage`` means the
same (``cache_read_tokens`` / ``cache_write_tokens`` are parts of ``input_tokens`` and
``output_reasoning_tokens`` part of ``output_tokens``: it prices the parts at their own
rate and the rest at the base rate). So the span's counts are passed as they are:
input_tokens, cache_read_tokens, cache_write_tokens (<- cache_creation_tokens),
output_tokens and output_reasoning_tokens (<- reasoning_tokens). A producer that reports
input tokens *without* the cached ones (Anthropic's raw API shape) shows it when the
cached tokens exceed the input; the parts are then added to the input instead of
rejected. The same holds for reasoning vs output tokens.

Prices come from the user's file (price_file.py) or from per-token rates derived from
genai-prices (price_rates.py). The resolution (provider, models) -> price is cached,
including "unknown", in a bounded dict because model names come from clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider

from llm_observatory.collector.processors.price_file import OverridePrice, load_price_file
from llm_observatory.collector.processors.price_rates import PER_MTOK, Counts, PriceRates
from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import SpanRecord

__all__ = ["OTEL_TO_GENAI_PRICES_PROVIDER", "CostCalculator"]

# OTel gen_ai.provider.name -> genai-prices provider id, where they differ. Others
# (openai, anthropic, groq, cohere, deepseek, perplexity...) are the same string, and
# genai-prices' own provider matching gets a last try.
OTEL_TO_GENAI_PRICES_PROVIDER: dict[str, str] = {
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
    "moonshot_ai": "moonshotai",
    "together_ai": "together",
}

# OpenAI instrumentations report "openai" for any server the OpenAI SDK talks to
# (DeepSeek, Groq, OpenRouter, vLLM...), so for them a model OpenAI does not sell is
# looked up by its name alone, like an unknown provider.
_OPENAI_COMPATIBLE = frozenset({"openai"})

log = get_logger(__name__)

_CACHE_MAX = 4096  # distinct (provider, models) resolutions kept; cleared when full
_MISS_KEYS_MAX = 1024  # distinct unknown models counted one by one; the rest as one
_OVERFLOW_KEY = ("*", "*")


@dataclass(frozen=True, slots=True)
class _Known:
    provider: Provider
    model: ModelInfo


_UNKNOWN = object()  # cached marker: neither the file nor genai-prices has the model


def _counts(span: SpanRecord) -> Counts | None:
    """Token counts in genai-prices' (and OTel's) inclusive form, or None without usage."""
    if span.input_tokens is None and span.output_tokens is None:
        return None
    input_tokens = span.input_tokens or 0
    output = span.output_tokens or 0
    cache_read = span.cache_read_tokens or 0
    cache_write = span.cache_creation_tokens or 0
    reasoning = span.reasoning_tokens or 0
    if cache_read + cache_write > input_tokens:
        # The producer counted cached tokens apart from the input (see module doc).
        input_tokens += cache_read + cache_write
    if reasoning > output:
        output += reasoning
    return input_tokens, cache_read, cache_write, output, reasoning


def _when(start_ns: int) -> datetime:
    """The span's start as a datetime; now when the client sent no usable time."""
    if start_ns > 0:
        try:
            return datetime.fromtimestamp(start_ns / 1e9, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(UTC)


def _override_cost(price: OverridePrice, counts: Counts) -> float:
    input_tokens, cache_read, cache_write, output, _ = counts
    cache_read_rate = price.cache_read_per_mtok
    cache_write_rate = price.cache_write_per_mtok
    # A part without its own rate is billed as ordinary input.
    if cache_read_rate is None:
        cache_read_rate = price.input_per_mtok
    if cache_write_rate is None:
        cache_write_rate = price.input_per_mtok
    return (
        price.input_per_mtok * (input_tokens - cache_read - cache_write)
        + cache_read_rate * cache_read
        + cache_write_rate * cache_write
        + price.output_per_mtok * output
    ) / PER_MTOK


class CostCalculator:
    """Prices spans; ``cost(span)`` never raises, an unknown model gives None and a miss.

    ``misses`` counts spans whose model had no price, per (provider, model); ``on_miss``
    is called with the same pair for each (the collector wires it to a counter). A span
    whose pricing raises (no such case is known: a guard, not a path) gets no cost and
    one warning per model in the log.
    """

    def __init__(
        self,
        price_file: str | Path | None = None,
        *,
        on_miss: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        self.overrides = load_price_file(price_file) if price_file else {}
        self.on_miss = on_miss
        self.misses: dict[tuple[str | None, str | None], int] = {}
        self._failed: set[tuple[str | None, str | None]] = set()
        self._snapshot = get_snapshot()
        self._resolved: dict[tuple[str | None, str | None, str | None], Any] = {}
        self._rates: dict[int, tuple[ModelPrice, PriceRates]] = {}
        self._providers: dict[str | None, Provider | None] = {}

    def cost(self, span: SpanRecord) -> float | None:
        """USD cost of the span's tokens, or None when it has no usage or no known price."""
        try:
            return self._cost(span)
        except Exception as exc:
            # A span is stored without a cost rather than lost; the log says why, once.
            key = (span.provider, span.model or span.request_model)
            if key not in self._failed and len(self._failed) < _MISS_KEYS_MAX:
                self._failed.add(key)
                log.warning(
                    "cost calculation failed",
                    provider=key[0],
                    model=key[1],
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
            return None

    def _cost(self, span: SpanRecord) -> float | None:
        if not span.is_llm or (span.response_model is None and span.request_model is None):
            return None
        counts = _counts(span)
        if counts is None:
            return None
        snapshot = get_snapshot()
        if snapshot is not self._snapshot:  # genai-prices' auto-update swapped its data
            self._snapshot = snapshot
            self._resolved.clear()
            self._rates.clear()
            self._providers.clear()
        key = (span.provider, span.response_model, span.request_model)
        resolved = self._resolved.get(key)
        if resolved is None:
            resolved = self._resolve(*key)
            if len(self._resolved) >= _CACHE_MAX:
                self._resolved.clear()
            self._resolved[key] = resolved
        if resolved is _UNKNOWN:
            self._miss(span.provider, span.model or span.request_model)
            return None
        if isinstance(resolved, OverridePrice):
            return _override_cost(resolved, counts)
        return self._genai_cost(resolved, counts, span.start_time_unix_nano)

    def _miss(self, provider: str | None, model: str | None) -> None:
        key = (provider, model)
        if key not in self.misses and len(self.misses) >= _MISS_KEYS_MAX:
            key = _OVERFLOW_KEY
        self.misses[key] = self.misses.get(key, 0) + 1
        if self.on_miss is not None:
            self.on_miss(provider, model)

    def _genai_cost(self, known: _Known, counts: Counts, start_ns: int) -> float | None:
        prices = known.model.prices
        if isinstance(prices, ModelPrice):
            model_price = prices
        else:  # prices that changed over time: the one in force when the call was made
            model_price = known.model.get_prices(_when(start_ns))
        entry = self._rates.get(id(model_price))
        if entry is None or entry[0] is not model_price:
            entry = self._rates[id(model_price)] = (model_price, PriceRates(model_price))
        return entry[1].cost(counts)

    # --- resolution (cached by the caller) ---

    def _resolve(
        self, provider: str | None, response_model: str | None, request_model: str | None
    ) -> Any:
        models = [m for m in (response_model, request_model) if m]
        if response_model and request_model and response_model == request_model:
            models = [response_model]
        if self.overrides:
            wanted = provider.lower() if provider else None
            for model in models:
                name = model.lower()
                price = self.overrides.get((wanted, name)) if wanted else None
                if price is None:
                    price = self.overrides.get((None, name))
                if price is not None:
                    return price
        genai_provider = self._genai_provider(provider)
        lookups = [genai_provider]
        if genai_provider is not None and provider in _OPENAI_COMPATIBLE:
            lookups.append(None)
        for lookup in lookups:
            for model in models:
                known = self._find_model(lookup, model)
                if known is not None:
                    return known
        return _UNKNOWN

    def _genai_provider(self, provider: str | None) -> Provider | None:
        if provider in self._providers:
            return self._providers[provider]
        found = None
        if provider:
            provider_id = OTEL_TO_GENAI_PRICES_PROVIDER.get(provider, provider)
            found = find_provider_by_id(self._snapshot.providers, provider_id)
        if len(self._providers) < _CACHE_MAX:
            self._providers[provider] = found
        return found

    def _find_model(self, provider: Provider | None, model: str) -> _Known | None:
        # Provider.find_model rather than calc_price / find_provider_model: those cache
        # every model name they are asked about, without bound, inside genai-prices.
        providers = self._snapshot.providers
        if provider is not None:
            info = provider.find_model(model, all_providers=providers)
            return _Known(provider, info) if info is not None else None
        name = model.lower()
        for candidate in providers:
            if candidate.model_match is not None and candidate.model_match.is_match(name):
                info = candidate.find_model(name, all_providers=providers)
                return _Known(candidate, info) if info is not None else None
        return None
