"""Our settings classes as the compose files and docs/CONFIGURATION.md see them: which
variable names each reads, their defaults, and the compose services they configure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from llm_observatory.core import settings as settings_module
from llm_observatory.core.connection_settings import DatabaseRoles
from llm_observatory.core.secret_files import secret_fields

# The settings class of each compose service we build (None: no settings of ours).
SERVICE_SETTINGS: dict[str, type[BaseSettings] | None] = {
    "collector": settings_module.CollectorSettings,
    "storage": settings_module.StorageSettings,
    "maintenance": settings_module.MaintenanceSettings,
    "api": settings_module.ApiSettings,
    "cli": settings_module.CliSettings,
    "backup": settings_module.CliSettings,
    "preflight": settings_module.CliSettings,
    "dev-seed": settings_module.CliSettings,
    "sdk-playground": settings_module.PlaygroundSettings,
    # The integration tests run migrations, which grant to DatabaseRoles' roles.
    "test-runner": DatabaseRoles,
    "load-tester": None,
}

# What reads each class's settings, for the docs table.
READERS: dict[type[BaseSettings], str] = {
    settings_module.CollectorSettings: "collector",
    settings_module.StorageSettings: "storage",
    settings_module.MaintenanceSettings: "maintenance",
    settings_module.ApiSettings: "api",
    settings_module.CliSettings: "cli",
    settings_module.PlaygroundSettings: "playground",
    DatabaseRoles: "migrations",
}


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """{VARIABLE: field} for every variable the class reads (aliases included)."""
    names = {}
    for field, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                names[str(choice).upper()] = field
        else:
            names[(alias if isinstance(alias, str) else field).upper()] = field
    return names


def secret_file_names(cls: type[BaseSettings]) -> set[str]:
    return {f"{field.upper()}_FILE" for field in secret_fields(cls)}


def every_variable() -> set[str]:
    names: set[str] = set()
    for cls in READERS:
        names |= set(env_names(cls)) | secret_file_names(cls)
    return names


@contextmanager
def environment(values: dict[str, str] | None = None) -> Iterator[None]:
    """os.environ without any variable our settings read, plus `values`."""
    saved = dict(os.environ)
    try:
        for name in every_variable():
            os.environ.pop(name, None)
        os.environ.update(values or {})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def defaults(cls: type[BaseSettings]) -> BaseSettings:
    """The class as it is with none of its variables set."""
    with environment():
        return cls()


def parsed(cls: type[BaseSettings], variable: str, value: str):
    """The field's value with `variable` set to `value` (raises if the type refuses it)."""
    with environment({variable: value}):
        return getattr(cls(), env_names(cls)[variable])
