"""Per-token rates of a genai-prices model price, so that a span costs a few float operations.

Speed. genai-prices' own ``calc_price`` takes ~70 µs a call, too slow for every span.
Its price for one model is linear in the token counts within a price tier (tiers switch
on the input token count), so per (model price, tier) we ask genai-prices once for the
price of a few probe usages, derive the per-token rates from its answers, and price each
span with a few float operations. Prices with anything else (a degenerate tier) fall back
to genai-prices per span.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from genai_prices import Usage
from genai_prices.types import ModelPrice, TieredPrices

__all__ = ["PER_MTOK", "Counts", "PriceRates"]

PER_MTOK = 1_000_000
_MTOK = Decimal(PER_MTOK)

Counts = tuple[int, int, int, int, int]  # input, cache_read, cache_write, output, reasoning

_SLOW = object()  # cached marker: rates could not be derived; ask genai-prices per span


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per token (and per request) of one model price in one input tier."""

    request: float
    input: float
    cache_read: float
    cache_write: float
    output: float
    reasoning: float


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
    output = (_total(model_price, input_tokens=x1, output_tokens=PER_MTOK) - at_x1) / _MTOK
    reasoning = (
        _total(
            model_price,
            input_tokens=x1,
            output_tokens=PER_MTOK,
            output_reasoning_tokens=PER_MTOK,
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


class PriceRates:
    """The rates of one genai-prices ModelPrice, per input tier, derived on first use."""

    __slots__ = ("_bands", "_model_price", "_thresholds")

    def __init__(self, model_price: ModelPrice) -> None:
        self._model_price = model_price
        self._thresholds = _tier_thresholds(model_price)
        self._bands: dict[int, _Rates | object] = {}

    def cost(self, counts: Counts) -> float | None:
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
        high = self._thresholds[band] if band < len(self._thresholds) else low + 1 + PER_MTOK
        try:
            rates = _derive_rates(self._model_price, low, high)
        except (ValueError, ArithmeticError, LookupError):
            rates = None
        return _SLOW if rates is None else rates

    def _slow(self, counts: Counts) -> float | None:
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
