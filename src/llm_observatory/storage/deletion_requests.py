"""Deletions asked through the API, carried out by maintenance.

The API reads with the read-only role and must stay unable to change data, so it
does not delete: it records a request, a `pending` row of `deletion_audit` (the role
may INSERT only a request's columns there), and maintenance, the owner, carries it
out within DELETION_POLL_INTERVAL and completes the row with what it deleted.

Grafana's data source reads as the same role, so a row is not trusted for being
there: the API signs each request with a key derived from JWT_SECRET, over a random
nonce (unique in the table), the requester and the selector. Maintenance, given the
same JWT_SECRET, runs only requests whose signature verifies and marks the others
`refused`; a copied signature fits only its own nonce, which cannot be used twice.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from prometheus_client import Counter
from psycopg.types.json import Jsonb

from llm_observatory.core.logging import get_logger
from llm_observatory.storage.deletion import Selector, SelectorError, delete

log = get_logger("llm_observatory.deletion")

_KEY_CONTEXT = b"llm-observatory deletion request v1"
PENDING_BATCH = 10

REQUESTS = Counter(
    "llmo_deletion_requests", "Deletion requests from the API handled, by outcome.", ["status"]
)
ROWS_DELETED = Counter(
    "llmo_deletion_rows_deleted", "Rows deleted for the API's deletion requests.", ["table"]
)


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def _message(nonce: str, requested_by: str, selector: dict[str, Any]) -> bytes:
    return orjson.dumps([nonce, requested_by, selector], option=orjson.OPT_SORT_KEYS)


def sign(secret: str, nonce: str, requested_by: str, selector: dict[str, Any]) -> str:
    return hmac.new(
        _key(secret), _message(nonce, requested_by, selector), hashlib.sha256
    ).hexdigest()


def verify(secret: str, nonce: str, requested_by: str, selector: Any, signature: str) -> bool:
    if not isinstance(selector, dict) or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(secret, nonce, requested_by, selector), signature)


REQUEST_SQL = """
    INSERT INTO deletion_audit (requested_by, selector, nonce, signature)
    VALUES (%s, %s, %s, %s)
    RETURNING id, requested_at, status
"""


async def submit(
    conn: psycopg.AsyncConnection, secret: str, requested_by: str, selector: Selector
) -> dict[str, Any]:
    """Record a signed request (the read-only role may); its id, time and status."""
    nonce = secrets.token_hex(16)
    body = selector.as_json()
    async with conn.transaction():
        # The role's sessions are read-only by default; its grants still allow only this.
        await conn.execute("SET TRANSACTION READ WRITE")
        cursor = await conn.execute(
            REQUEST_SQL, (requested_by, Jsonb(body), nonce, sign(secret, nonce, requested_by, body))
        )
        row = await cursor.fetchone()
    assert row is not None
    return {"id": row[0], "requested_at": row[1], "status": row[2]}


@dataclass(frozen=True)
class Request:
    id: int
    requested_by: str
    selector: Any
    nonce: str | None
    signature: str | None


# `running` too: a request maintenance was carrying out when it stopped is done again
# (deleting is idempotent). Only API requests: a running CLI deletion is its own.
PENDING_SQL = """
    SELECT id, requested_by, selector, nonce, signature FROM deletion_audit
    WHERE status IN ('pending', 'running') AND via = 'api'
    ORDER BY id LIMIT %s
"""


def process_pending(conn: psycopg.Connection, secret: str, batch_size: int) -> list[int]:
    """Carry out the pending API requests (as the owner); the ids handled."""
    rows = conn.execute(PENDING_SQL, (PENDING_BATCH,)).fetchall()
    handled = []
    for row in rows:
        request = Request(*row)
        handled.append(request.id)
        problem = _check(request, secret)
        if isinstance(problem, str):
            log.warning("deletion request refused", id=request.id, reason=problem)
            conn.execute(
                "UPDATE deletion_audit SET status = 'refused', finished_at = now(), error = %s "
                "WHERE id = %s",
                (problem, request.id),
            )
            REQUESTS.labels("refused").inc()
            continue
        conn.execute(
            "UPDATE deletion_audit SET status = 'running', started_at = now() WHERE id = %s",
            (request.id,),
        )
        log.info("deletion request started", id=request.id, selector=problem.describe())
        try:
            _, deleted = delete(
                conn, problem, request.requested_by, via="api", audit_id=request.id,
                batch_size=batch_size,
            )  # fmt: skip
        except psycopg.Error as exc:
            log.error("deletion request failed", id=request.id, error=str(exc)[:300])
            REQUESTS.labels("failed").inc()
            continue
        REQUESTS.labels("done").inc()
        for table, rows in deleted.items():
            ROWS_DELETED.labels(table).inc(rows)
        log.info("deletion request done", id=request.id, rows=deleted)
    return handled


def _check(request: Request, secret: str) -> Selector | str:
    """The request's selector, or why it is refused."""
    if not (request.nonce and request.signature) or not verify(
        secret, request.nonce, request.requested_by, request.selector, request.signature
    ):
        return "the signature does not verify: not made by this stack's API (JWT_SECRET)"
    try:
        return Selector.from_json(request.selector)
    except (SelectorError, TypeError) as exc:
        return f"not a valid selector: {exc}"
