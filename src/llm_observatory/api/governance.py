"""Budgets, deletion and export over REST: GET /api/v1/budgets, DELETE /api/v1/data,
GET /api/v1/data/deletions[/{id}], GET /api/v1/export.

* Budgets are read from `budget_status`, which maintenance writes at every
  evaluation: the API shows the numbers its gauges and alerts use, needs neither the
  budgets file nor a month's scan per request, and works on a read replica.
* Deletion needs a token with the admin scope (others get 403). The API's database
  role is read-only, so it records a signed request that maintenance carries out
  within DELETION_POLL_INTERVAL (storage/deletion_requests.py); the answer is 202
  with the request, whose progress GET /api/v1/data/deletions/{id} shows.
  `dry_run=true` counts the rows instead (a read, answered at once).
* Export streams JSON lines from a server-side cursor on a connection of its own
  (an export may take minutes: it must not hold one of the pool's), at most
  MAX_EXPORTS at once per process.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at run time.
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from llm_observatory.api.auth import Principal
from llm_observatory.api.database import libpq_url
from llm_observatory.api.guard import require_admin, require_client
from llm_observatory.api.rest import ERRORS
from llm_observatory.api.state import ApiState, api_state
from llm_observatory.api.values import (
    NON_BLANK_TEXT_SCHEMA,
    ZonedDateTime,
    plain_text,
    utc_parameter,
)
from llm_observatory.core.logging import get_logger
from llm_observatory.storage import deletion, deletion_requests, export

log = get_logger("llm_observatory.api.governance")

MAX_EXPORTS = 2
MAX_VALUE = deletion.MAX_VALUE_LENGTH
router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_client)], responses=ERRORS)
ADMIN = {403: {"description": "The token has no admin scope"}}


class Budget(BaseModel):
    """One budget of BUDGETS_FILE as maintenance last evaluated it."""

    name: str = Field(description="The budget's name in the budgets file")
    period: Literal["daily", "monthly"]
    scope: Literal["overall", "service", "user", "model"]
    scope_value: str | None = Field(description="The service, user or model; null: overall")
    limit_usd: float
    spend_usd: float = Field(description="USD spent so far in the current period")
    used: float = Field(description="spend_usd / limit_usd (1.0: the limit is reached)")
    period_start: datetime
    period_end: datetime
    evaluated_at: datetime = Field(description="When maintenance computed the spend")


class BudgetList(BaseModel):
    items: list[Budget]


class Deletion(BaseModel):
    """A deletion of data as deletion_audit records it."""

    id: int
    requested_by: str
    via: Literal["cli", "api"]
    selector: dict[str, str]
    status: Literal["pending", "running", "done", "failed", "refused"]
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows_deleted: dict[str, int] = Field(description="Rows deleted per table")
    error: str | None


class DeletionList(BaseModel):
    items: list[Deletion]


class DeletionPreview(BaseModel):
    """What a deletion would remove (dry_run=true): nothing was changed."""

    dry_run: bool = True
    selector: dict[str, str]
    rows: dict[str, int] = Field(description="Rows per table the deletion would remove")


def _json(answer: BaseModel, status_code: int = 200) -> Response:
    return Response(
        answer.model_dump_json(), media_type="application/json", status_code=status_code
    )


def _schema_missing(exc: psycopg.Error) -> HTTPException:
    log.warning("governance tables missing", error=str(exc)[:200])
    return HTTPException(503, detail="the database schema is not migrated yet; retry shortly")


async def budget_list(state: ApiState) -> BudgetList:
    """The budgets as maintenance last evaluated them (REST and the UI's page)."""
    try:
        rows = await state.database.fetch_all("SELECT * FROM budget_status ORDER BY name")
    except psycopg.errors.UndefinedTable as exc:
        raise _schema_missing(exc) from exc
    return BudgetList(
        items=[
            Budget(
                **{
                    **row,
                    "limit_usd": float(row["limit_usd"]),
                    "spend_usd": float(row["spend_usd"]),
                },
                used=float(row["spend_usd"] / row["limit_usd"]),
            )
            for row in rows
        ]
    )


@router.get("/budgets", response_model=BudgetList, summary="Budgets and the spend so far")
async def budgets(request: Request) -> Response:
    return _json(await budget_list(api_state(request)))


Text = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_VALUE, json_schema_extra=NON_BLANK_TEXT_SCHEMA),
    AfterValidator(plain_text),
]


def _utc(name: str, value: datetime | None) -> datetime | None:
    # A naive time stays naive: the selector and the export filter name it.
    return utc_parameter(name, value) if value is not None and value.tzinfo else value


def selector_query(
    user: Text = None,
    conversation: Text = None,
    trace: Text = None,
    service: Text = None,
    before: Annotated[ZonedDateTime | None, Query(description="only data older than this")] = None,
) -> deletion.Selector:
    if before is not None and before.tzinfo is None:
        raise HTTPException(422, detail="before: give a time zone (e.g. 2026-01-31T00:00:00Z)")
    try:
        return deletion.Selector(user, conversation, trace, service, _utc("before", before))
    except deletion.SelectorError as exc:
        raise HTTPException(422, detail=str(exc)) from exc


async def _primary(request: Request) -> psycopg.AsyncConnection:
    """A connection that may write a request: the primary, whatever host reads go to."""
    settings = api_state(request).settings
    try:
        return await psycopg.AsyncConnection.connect(
            libpq_url(settings.database_url),
            autocommit=True,
            connect_timeout=5,
            # Not read-write: that also refuses the role's read-only default.
            target_session_attrs="primary",
            options=f"-c statement_timeout={int(settings.db_statement_timeout * 1000)}",
        )
    except psycopg.OperationalError as exc:
        log.warning("database unavailable for a deletion request", error=str(exc)[:300])
        raise HTTPException(503, detail="the database is unavailable; retry shortly") from exc


@router.delete(
    "/data",
    summary="Delete a user's, conversation's, trace's or service's data (admin)",
    status_code=202,
    responses={
        **ADMIN,
        202: {"model": Deletion, "description": "Requested: maintenance carries it out"},
        200: {"model": DeletionPreview, "description": "dry_run=true: what would go"},
    },
)
async def delete_data(
    request: Request,
    principal: Annotated[Principal, Depends(require_admin)],
    selector: Annotated[deletion.Selector, Depends(selector_query)],
    dry_run: Annotated[bool, Query(description="count the rows, delete nothing")] = False,
) -> Response:
    if dry_run:
        async with api_state(request).database.pool.connection() as conn:
            rows = await deletion.count_async(conn, selector)
        return _json(DeletionPreview(selector=selector.as_json(), rows=rows))
    secret = api_state(request).settings.jwt_secret
    async with await _primary(request) as conn:
        try:
            submitted = await deletion_requests.submit(conn, secret, principal.subject, selector)
        except psycopg.errors.UndefinedTable as exc:
            raise _schema_missing(exc) from exc
        answer = await _deletion(conn, submitted["id"])
    log.info("deletion requested", id=submitted["id"], by=principal.subject)
    assert answer is not None
    return _json(answer, status_code=202)


DELETION_SQL = """
    SELECT id, requested_by, via, selector, status, requested_at, started_at, finished_at,
           rows_deleted, error
    FROM deletion_audit
"""


async def _deletion(conn: psycopg.AsyncConnection, deletion_id: int) -> Deletion | None:
    async with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        await cursor.execute(DELETION_SQL + " WHERE id = %s", (deletion_id,))
        row = await cursor.fetchone()
    return Deletion(**row) if row else None


@router.get(
    "/data/deletions",
    response_model=DeletionList,
    summary="The newest deletions (admin): the audit trail",
    responses=ADMIN,
)
async def list_deletions(
    request: Request,
    _admin: Annotated[Principal, Depends(require_admin)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    try:
        rows = await api_state(request).database.fetch_all(
            DELETION_SQL + " ORDER BY id DESC LIMIT %s", (limit,)
        )
    except psycopg.errors.UndefinedTable as exc:
        raise _schema_missing(exc) from exc
    return _json(DeletionList(items=[Deletion(**row) for row in rows]))


@router.get(
    "/data/deletions/{deletion_id}",
    response_model=Deletion,
    summary="One deletion (admin): its status and the rows deleted",
    responses={**ADMIN, 404: {"description": "No deletion has this id"}},
)
async def get_deletion(
    request: Request,
    _admin: Annotated[Principal, Depends(require_admin)],
    deletion_id: Annotated[int, Path(ge=1, le=2**62)],
) -> Response:
    async with api_state(request).database.pool.connection() as conn:
        answer = await _deletion(conn, deletion_id)
    if answer is None:
        raise HTTPException(404, detail=f"no deletion {deletion_id}")
    return _json(answer)


class _ExportSlots:
    """Exports in flight in this process; past MAX_EXPORTS a new one gets 429."""

    running = 0


def export_filter(
    start: Annotated[ZonedDateTime, Query(alias="from", description="inclusive")],
    end: Annotated[
        ZonedDateTime | None, Query(alias="to", description="exclusive; default now")
    ] = None,
    service: Text = None,
    model: Text = None,
    user: Text = None,
    conversation: Text = None,
) -> export.ExportFilter:
    try:
        return export.ExportFilter(
            _utc("from", start),  # type: ignore[arg-type]
            _utc("to", end) or datetime.now(UTC),
            service,
            model,
            user,
            conversation,
        )
    except export.ExportError as exc:
        raise HTTPException(422, detail=str(exc)) from exc


@router.get(
    "/export",
    summary="Spans of a time range as JSON lines, streamed",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "One span per line"},
        429: {"description": "Too many exports at once; see Retry-After"},
    },
)
async def export_spans(
    request: Request, where: Annotated[export.ExportFilter, Depends(export_filter)]
) -> StreamingResponse:
    if _ExportSlots.running >= MAX_EXPORTS:
        raise HTTPException(
            429,
            detail=f"{MAX_EXPORTS} exports are running; retry later",
            headers={"Retry-After": "30"},
        )
    _ExportSlots.running += 1
    try:
        conn = await _export_connection(request)
        chunks = export.stream_jsonl(conn, where)
        # The first page before the headers: a failing query is still a clean 503.
        first = await anext(chunks, b"")
    except BaseException:
        _ExportSlots.running -= 1
        if "conn" in locals():
            await conn.close()
        raise

    async def body() -> Any:
        try:
            if first:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()
            await conn.close()
            _ExportSlots.running -= 1

    return StreamingResponse(body(), media_type="application/x-ndjson")


async def _export_connection(request: Request) -> psycopg.AsyncConnection:
    settings = api_state(request).settings
    timeout_ms = int(settings.db_statement_timeout * 1000)
    try:
        return await psycopg.AsyncConnection.connect(
            libpq_url(settings.database_url),
            connect_timeout=5,
            # A reader that stops reading must not keep the transaction open for ever.
            options=f"-c statement_timeout={timeout_ms} "
            "-c idle_in_transaction_session_timeout=300000 -c application_name=llmo-export",
        )
    except psycopg.OperationalError as exc:
        log.warning("database unavailable for an export", error=str(exc)[:300])
        raise HTTPException(503, detail="the database is unavailable; retry shortly") from exc
