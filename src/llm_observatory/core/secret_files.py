"""Secret settings from files: `<NAME>_FILE` names the file that holds NAME's value.

Docker and Swarm secrets arrive as files under /run/secrets, never in the environment
(where `docker inspect` shows them). Every settings class (core/settings.py) derives
from SecretFileSettings, so each secret setting, a field declared with repr=False, can
be given either way; the file wins, so an overlay adds `<NAME>_FILE` without having to
remove the NAME a base compose file sets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

# A secret file bigger than this is a mistake (a directory dump, a key ring), not a secret.
SECRET_FILE_MAX_BYTES = 64 * 1024


def secret_fields(settings_cls: type[BaseSettings]) -> list[str]:
    """The secret settings: every field declared with repr=False (never logged)."""
    return [name for name, info in settings_cls.model_fields.items() if not info.repr]


def read_secret_file(variable: str, path: str) -> str:
    """A secret file's text without its trailing newline; the error names the variable."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(SECRET_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise SettingsError(f"{variable}: {path} is over {SECRET_FILE_MAX_BYTES} bytes")
    try:
        return data.decode().rstrip("\r\n")
    except UnicodeDecodeError:
        raise SettingsError(f"{variable}: {path} is not UTF-8 text") from None


class SecretFilesSource(PydanticBaseSettingsSource):
    """`<NAME>_FILE` names a file holding the secret setting NAME (Docker and Swarm
    secrets under /run/secrets). It wins over NAME itself, so an overlay can add the file
    without removing the variable a base compose file sets."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        values = {}
        for name in secret_fields(self.settings_cls):
            variable = f"{name.upper()}_FILE"
            if environ.get(variable):
                values[name] = read_secret_file(variable, environ[variable])
        return values


class SecretFileSettings(BaseSettings):
    """Every settings class reads its secrets from `<NAME>_FILE` too (SecretFilesSource)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            SecretFilesSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )
