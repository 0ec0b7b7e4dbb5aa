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

Speed. genai-prices' own ``calc_price`` takes ~70 µs a call, too slow for every span.
Its price for one model is linear in the token counts within a price tier (tiers switch
on the input token count), so per (model price, tier) we ask genai-prices once for the
price of a few probe usages, derive the per-token rates from its answers, and price each
span with a few float operations. Prices with anything else (a degenerate tier) fall back
to genai-prices per span. The resolution (provider, models) -> model is cached too,
including "unknown", in a bounded dict because model names come from clients.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices import Usage
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import SpanRecord

__all__ = ["OTEL_TO_GENAI_PRICES_PROVIDER", "CostCalculator", "OverridePrice", "load_price_file"]

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

_PER_MTOK = 1_000_000
_MTOK = Decimal(_PER_MTOK)
log = get_logger(__name__)

_CACHE_MAX = 4096  # distinct (provider, models) resolutions kept; cleared when full
_MISS_KEYS_MAX = 1024  # distinct unknown models counted one by one; the rest as one
_OVERFLOW_KEY = ("*", "*")


@dataclass(frozen=True, slots=True)
class OverridePrice:
    """A price from the user's file, USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per token (and per request) of one model price in one input tier."""

    request: float
    input: float
    cache_read: float
    cache_write: float
    output: float
    reasoning: float


@dataclass(frozen=True, slots=True)
class _Known:
    provider: Provider
    model: ModelInfo


_UNKNOWN = object()  # cached marker: neither the file nor genai-prices has the model
_SLOW = object()  # cached marker: rates could not be derived; ask genai-prices per span

_Counts = tuple[int, int, int, int, int]  # input, cache_read, cache_write, output, reasoning


# --- the user's price file -------------------------------------------------------------------

_FILE_KEYS = {
    "provider",
    "model",
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
}


def load_price_file(path: str | Path) -> dict[tuple[str | None, str], OverridePrice]:
    """Read and validate a YAML or JSON price file -> {(provider or None, model): price}.

    Raises ValueError naming the file and the bad entry.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"price file {path}: cannot read it: {exc}") from exc
    data = _parse_price_text(path, text)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValueError(f"price file {path}: expected a mapping with a 'models' list")
    prices: dict[tuple[str | None, str], OverridePrice] = {}
    for index, entry in enumerate(data["models"]):
        key, price = _parse_entry(path, index, entry)
        if key in prices:
            raise ValueError(f"price file {path}: models[{index}]: duplicate entry for {key}")
        prices[key] = price
    return prices


def _parse_price_text(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"price file {path}: invalid JSON: {exc}") from exc
    try:
        import yaml  # only needed for YAML price files
    except ImportError as exc:
        raise ValueError(f"price file {path}: YAML needs the PyYAML package") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"price file {path}: invalid YAML: {exc}") from exc


def _parse_entry(
    path: Path, index: int, entry: Any
) -> tuple[tuple[str | None, str], OverridePrice]:
    where = f"price file {path}: models[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
    unknown = set(entry) - _FILE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    model = entry.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{where}: 'model' must be a non-empty string")
    where = f"{where} (model {model!r})"
    provider = entry.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise ValueError(f"{where}: 'provider' must be a non-empty string when given")
    rates = {}
    for name in (
        "input_per_mtok",
        "output_per_mtok",
        "cache_read_per_mtok",
        "cache_write_per_mtok",
    ):
        value = entry.get(name)
        required = name in ("input_per_mtok", "output_per_mtok")
        if value is None and not required:
            rates[name] = None
            continue
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}: '{name}' must be a non-negative number, got {value!r}")
        rates[name] = float(value)
    key = (provider.strip().lower() if provider else None, model.strip().lower())
    return key, OverridePrice(**rates)


# --- genai-prices --------------------------------------------------------------------------------


def _total(model_price: ModelPrice, **usage: int) -> Decimal:
    return model_price.calc_price(Usage(**usage))["total_price"]


def _tier_thresholds(model_price: ModelPrice) -> tuple[int, ...]:
    """Input token counts where the price changes: a tier applies once input > start."""
    starts: set[int] = set()
    for value in model_price.__dict__.values():
        if isinstance(value, TieredPrices):
            starts.update(tier.start for tier in value.tiers)
    return tuple(sorted(starts))


def _derive_rates(model_price: ModelPrice, low: int, high: int) -> _Rates | None:
    """Per-token rates within the input range (low, high] (or [0, high] for low == -1).

    Every usage probed has its input inside the range, so every probe lands in the
    same tier; differences of genai-prices' own totals then give the rates.
    """
    x1 = low + 1
    x2 = high
    if x2 <= x1:
        return None
    at_x1 = _total(model_price, input_tokens=x1)
    at_x2 = _total(model_price, input_tokens=x2)
    per_input = (at_x2 - at_x1) / (x2 - x1)
    request = at_x1 - per_input * x1
    cache_read = (_total(model_price, input_tokens=x2, cache_read_tokens=x2) - request) / x2
    cache_write = (_total(model_price, input_tokens=x2, cache_write_tokens=x2) - request) / x2
    output = (_total(model_price, input_tokens=x1, output_tokens=_PER_MTOK) - at_x1) / _MTOK
    reasoning = (
        _total(
            model_price,
            input_tokens=x1,
            output_tokens=_PER_MTOK,
            output_reasoning_tokens=_PER_MTOK,
        )
        - at_x1
    ) / _MTOK
    return _Rates(
        request=float(request),
        input=float(per_input),
        cache_read=float(cache_read),
        cache_write=float(cache_write),
        output=float(output),
        reasoning=float(reasoning),
    )


class _PriceRates:
    """The rates of one genai-prices ModelPrice, per input tier, derived on first use."""

    __slots__ = ("_bands", "_model_price", "_thresholds")

    def __init__(self, model_price: ModelPrice) -> None:
        self._model_price = model_price
        self._thresholds = _tier_thresholds(model_price)
        self._bands: dict[int, _Rates | object] = {}

    def cost(self, counts: _Counts) -> float | None:
        input_tokens, cache_read, cache_write, output, reasoning = counts
        band = 0
        for start in self._thresholds:
            if input_tokens > start:
                band += 1
        rates = self._bands.get(band)
        if rates is None:
            rates = self._bands[band] = self._rates_for(band)
        if rates is _SLOW:
            return self._slow(counts)
        assert isinstance(rates, _Rates)
        return (
            rates.request
            + rates.input * (input_tokens - cache_read - cache_write)
            + rates.cache_read * cache_read
            + rates.cache_write * cache_write
            + rates.output * (output - reasoning)
            + rates.reasoning * reasoning
        )

    def _rates_for(self, band: int) -> _Rates | object:
        low = self._thresholds[band - 1] if band else -1
        # The top tier is open-ended; any range inside it will do.
        high = self._thresholds[band] if band < len(self._thresholds) else low + 1 + _PER_MTOK
        try:
            rates = _derive_rates(self._model_price, low, high)
        except (ValueError, ArithmeticError, LookupError):
            rates = None
        return _SLOW if rates is None else rates

    def _slow(self, counts: _Counts) -> float | None:
        input_tokens, cache_read, cache_write, output, reasoning = counts
        usage = Usage(
            input_tokens=input_tokens,
            cache_read_tokens=cache_read or None,
            cache_write_tokens=cache_write or None,
            output_tokens=output,
            output_reasoning_tokens=reasoning or None,
        )
        try:
            return float(self._model_price.calc_price(usage)["total_price"])
        except (ValueError, ArithmeticError, LookupError):
            return None


# --- the calculator ------------------------------------------------------------------------------


def _counts(span: SpanRecord) -> _Counts | None:
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


def _override_cost(price: OverridePrice, counts: _Counts) -> float:
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
    ) / _PER_MTOK


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
        self._rates: dict[int, tuple[ModelPrice, _PriceRates]] = {}
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

    def _genai_cost(self, known: _Known, counts: _Counts, start_ns: int) -> float | None:
        prices = known.model.prices
        if isinstance(prices, ModelPrice):
            model_price = prices
        else:  # prices that changed over time: the one in force when the call was made
            model_price = known.model.get_prices(_when(start_ns))
        entry = self._rates.get(id(model_price))
        if entry is None or entry[0] is not model_price:
            entry = self._rates[id(model_price)] = (model_price, _PriceRates(model_price))
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
