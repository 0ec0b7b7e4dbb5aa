"""LLM provider names: the spellings instrumentations use -> OTel gen_ai.provider.name.

Shared by GenAI recognition (processors/genai.py) and the bounded metric labels
(labels.py), which count a provider not listed here as "other".
"""

from __future__ import annotations

# Lower-cased spellings seen in the wild -> OTel gen_ai.provider.name well-known values.
# Anything not listed is kept, lower-cased and stripped.
_PROVIDER_ALIASES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "mistral_ai": "mistral_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "x_ai": "x_ai",
    "xai": "x_ai",
    "x.ai": "x_ai",
    "aws.bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "azure.ai.openai": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure openai": "azure.ai.openai",
    "azure.ai.inference": "azure.ai.inference",
    "az.ai.inference": "azure.ai.inference",
    "gcp.gemini": "gcp.gemini",
    "gemini": "gcp.gemini",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex ai": "gcp.vertex_ai",
    "gcp.gen_ai": "gcp.gen_ai",
    "google": "gcp.gen_ai",
    "google_genai": "gcp.gen_ai",
    "ibm.watsonx.ai": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
    "ibm": "ibm.watsonx.ai",
}
_PROVIDER_CACHE_MAX = 256
# The OTel gen_ai.provider.name values we recognise (bounded metric labels use them).
KNOWN_PROVIDERS: frozenset[str] = frozenset(_PROVIDER_ALIASES.values())

# Model-name prefixes that only one provider serves under that name; used when a span
# names no provider. Prefixes of open-weight models (llama, deepseek, qwen, mistral...)
# are absent on purpose: those run anywhere, so the name says nothing about who billed.
MODEL_PROVIDER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("text-embedding-", "openai"),
    ("o1-", "openai"),
    ("o3-", "openai"),
    ("o4-", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "gcp.gemini"),
    ("grok-", "x_ai"),
)
_MODEL_PROVIDER_EXACT = {"o1": "openai", "o3": "openai", "o4": "openai"}


_provider_cache: dict[str, str] = {}


def normalize_provider(raw: str) -> str:
    """A provider spelling (``OpenAI``, ``mistralai``, ``az.ai.openai``) -> OTel value."""
    cached = _provider_cache.get(raw)
    if cached is not None:
        return cached
    lowered = raw.strip().lower()
    result = _PROVIDER_ALIASES.get(lowered, lowered)
    if len(_provider_cache) < _PROVIDER_CACHE_MAX:  # bounded: the raw value is client input
        _provider_cache[raw] = result
    return result


def infer_provider(model: str) -> str | None:
    """The provider a model name unambiguously belongs to, per MODEL_PROVIDER_PREFIXES."""
    name = model.lower()
    exact = _MODEL_PROVIDER_EXACT.get(name)
    if exact is not None:
        return exact
    for prefix, provider in MODEL_PROVIDER_PREFIXES:
        if name.startswith(prefix):
            return provider
    return None
