"""The demo data's models: providers, names, speeds, how often each is used, prices.

Prices are per million tokens, close to the providers' public list prices; the demo
computes its costs from them (the collector prices real spans with genai-prices).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    provider: str  # gen_ai.provider.name as instrumentations report it
    request: str
    response: str
    ms_per_output_token: float
    weight: int
    input_price: float  # USD per million tokens (demo list prices)
    output_price: float
    cache_read_price: float
    reasoning: bool = False


CHAT_MODELS = (
    Model("openai", "gpt-4o", "gpt-4o-2024-08-06", 12.0, 20, 2.5, 10.0, 1.25),
    Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 7.0, 35, 0.15, 0.6, 0.075),
    Model("openai", "o3-mini", "o3-mini-2025-01-31", 9.0, 4, 1.1, 4.4, 0.55, reasoning=True),
    Model("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 14.0, 15,
          3.0, 15.0, 0.3),
    Model("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022", 8.0, 8,
          0.8, 4.0, 0.08),
    Model("gcp.gemini", "gemini-1.5-pro", "gemini-1.5-pro-002", 11.0, 7, 1.25, 5.0, 0.3125),
    Model("gcp.gemini", "gemini-1.5-flash", "gemini-1.5-flash-002", 5.0, 8, 0.075, 0.3, 0.01875),
    Model("mistral_ai", "mistral-large-latest", "mistral-large-2411", 13.0, 3, 2.0, 6.0, 2.0),
)  # fmt: skip
EMBEDDING = Model("openai", "text-embedding-3-small", "text-embedding-3-small", 0, 1, 0.02, 0, 0)

LLM_ERRORS = (
    ("RateLimitError", "429 Too Many Requests: rate limit reached for requests"),
    ("InternalServerError", "503 Service Unavailable: the model is overloaded, retry later"),
    ("BadRequestError", "400 Bad Request: context_length_exceeded"),
    ("APITimeoutError", "timeout: no response within 60s"),
)
TOOL_ERRORS = ("tool raised ValueError: order not found", "upstream HTTP 502 from inventory")


def tokens_of(value: object) -> int:
    """A rough token count of a text or message list: four characters a token."""
    return max(1, len(str(value)) // 4)


def cost(model: Model, input_tokens: int, output_tokens: int, cache_read: int = 0) -> float:
    uncached = input_tokens - cache_read
    dollars = (
        uncached * model.input_price
        + cache_read * model.cache_read_price
        + output_tokens * model.output_price
    ) / 1e6
    return round(dollars, 9)
