"""The user's price file (COST_PRICE_FILE): YAML or JSON, USD per million tokens.

Its entries win over genai-prices: an entry for (provider, model), else one for the
model with no provider. A bad file is refused whole (ValueError naming the file and
the entry) rather than read in part.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OverridePrice", "load_price_file"]


@dataclass(frozen=True, slots=True)
class OverridePrice:
    """A price from the user's file, USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


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
