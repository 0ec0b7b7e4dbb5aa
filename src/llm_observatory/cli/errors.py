"""What every command does on failure: one message that says what to do, a non-zero exit."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg

STACK_HINT = "is the stack up? `invoke up` (or `docker compose up -d`)"


class CliError(Exception):
    """A failure the user can act on; `main` prints it and exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def redact_url(url: str) -> str:
    """The URL with its password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect(database_url: str, **kwargs) -> psycopg.Connection:  # type: ignore[no-untyped-def]
    """psycopg.connect, with the failure turned into a CliError naming the URL."""
    try:
        return psycopg.connect(database_url, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise database_unreachable(database_url, exc) from exc


def database_unreachable(database_url: str, exc: BaseException) -> CliError:
    detail = " ".join(str(exc).split())
    return CliError(
        f"cannot connect to the database at {redact_url(database_url)}: {detail}\n"
        f"  {STACK_HINT}; check DATABASE_URL"
    )
