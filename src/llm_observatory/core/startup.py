"""What every service does first: read its settings, set up logging, refuse a bad start.

A configuration that cannot work ends the process with exit code 2 and one line that
names the variable, never a traceback: a mistyped BATCH_SIZE, or development secrets
with ENVIRONMENT=production.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsError

from llm_observatory.core.logging import configure_logging, get_logger
from llm_observatory.core.settings import CommonSettings, InsecureConfiguration

S = TypeVar("S", bound=CommonSettings)

CONFIGURATION_ERROR = 2


def describe(error: ValidationError) -> str:
    """'BATCH_SIZE: Input should be a valid integer (got 'abc')' for each bad variable."""
    problems = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        got = f" (got {item['input']!r})" if "input" in item and item["loc"] else ""
        problems.append(f"{name}: {item['msg']}{got}")
    return "; ".join(problems)


def load_settings(settings_type: type[S], service: str) -> S:
    """The service's settings with logging configured; exit 2 if they cannot work."""
    try:
        settings = settings_type()
    except ValidationError as exc:
        # Logging is not configured yet (its own settings may be the bad ones).
        print(f"llm-observatory-{service}: invalid configuration: {describe(exc)}", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR)
    except SettingsError as exc:  # a *_FILE that cannot be read (core/secret_files.py)
        print(f"llm-observatory-{service}: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR)
    configure_logging(settings.log_level, settings.log_format, service=service)
    try:
        settings.check_production()
    except InsecureConfiguration as exc:
        get_logger(f"llm_observatory.{service}").error("refusing to start", reason=str(exc))
        sys.exit(CONFIGURATION_ERROR)
    return settings
