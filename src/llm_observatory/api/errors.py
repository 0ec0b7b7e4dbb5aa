"""What a client is told when a request fails on our side: the same for REST and GraphQL.

A failure's text names hosts, roles, SQL and file paths, so it goes to the log only;
the client gets a code and a fixed message, with an id that finds the log line:

    database unavailable or too slow (psycopg.OperationalError: connection lost, pool
    exhausted, statement timeout)   503  SERVICE_UNAVAILABLE   retry shortly
    anything else                   500  INTERNAL_SERVER_ERROR the log has the details

A client's own mistake (a bad parameter, a GraphQL document over a limit) is not one
of these: its message names what to change and is shown as it is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg

from llm_observatory.core.logging import get_logger

log = get_logger("llm_observatory.api.errors")

DATABASE_UNAVAILABLE = "the database is unavailable or too slow right now; retry shortly"
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class SafeError:
    """What the client may see of a failure."""

    status: int  # REST's status
    code: str  # GraphQL's extensions.code
    message: str
    error_id: str


def safe_error(exc: BaseException, where: str) -> SafeError:
    """Log `exc` with its detail under a new id; the client's view of it."""
    error_id = secrets.token_hex(6)
    detail = f"{type(exc).__name__}: {exc}"[:2000]
    if isinstance(exc, psycopg.OperationalError):
        log.warning("database unavailable", where=where, error_id=error_id, error=detail)
        return SafeError(503, "SERVICE_UNAVAILABLE", DATABASE_UNAVAILABLE, error_id)
    log.error("request failed", where=where, error_id=error_id, error=detail, exc_info=exc)
    message = f"internal error {error_id}: the API's log has the details"
    return SafeError(500, "INTERNAL_SERVER_ERROR", message, error_id)
