"""Storage's ingest API (storage/service.py) in process: its checks before anything is
queued, and its answers, in front of a table writer that we control."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from llm_observatory.core.settings import StorageSettings
from llm_observatory.core.signals import SIGNALS
from llm_observatory.storage.service import IngestApp, Storage
from llm_observatory.storage.writer import TableWriter, WriteResult
from tests.support.asgi_client import ChunkedReceive, post
from tests.support.span_records import span_record

TOKEN = "test-storage-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
MAX_BODY = 4096


ENCODE = SIGNALS["traces"].table.row_encoder()


def body(*names: str, header: str | None = None) -> bytes:
    lines = [header if header is not None else SIGNALS["traces"].table.header]
    lines += [ENCODE(span_record(name)) for name in names]
    return ("\n".join(lines) + "\n").encode()


class FakeWriter:
    """Replaces TableWriter.write_rows: records batches, refuses rows, stalls or fails."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse: set[bytes] = set()
        self.error: Exception | None = None

    async def write_rows(self, writer: TableWriter, rows):
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.batches.append(list(rows))
        refused = [(i, "value too long") for i, row in enumerate(rows) if row in self.refuse]
        return WriteResult(inserted=len(rows) - len(refused), refused=refused)


@pytest.fixture
async def service(monkeypatch):
    fake = FakeWriter()

    async def write_rows(self, rows):
        return await fake.write_rows(self, rows)

    monkeypatch.setattr(TableWriter, "write_rows", write_rows)
    settings = StorageSettings(
        storage_ingest_token=TOKEN, max_ingest_body_bytes=MAX_BODY, max_queue_size=4
    )
    storage = Storage(settings, pool=None)  # type: ignore[arg-type]
    storage.start()
    app = IngestApp(storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://storage") as client:
        yield client, fake, app
    fake.gate.set()
    await storage.stop()


async def test_rows_are_written_and_refusals_come_back_by_position(service):
    client, fake, _ = service
    fake.refuse = {ENCODE(span_record("bad")).encode()}
    response = await client.post("/v1/ingest/traces", content=body("a", "bad", "b"), headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": [[1, "value too long"]]}
    assert fake.batches == [[ENCODE(span_record(n)).encode() for n in ("a", "bad", "b")]]


async def test_an_empty_batch_is_fine(service):
    client, _, _ = service
    response = await client.post("/v1/ingest/traces", content=body(), headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "rejected": []}


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}]
)
async def test_401_without_the_token(service, headers):
    client, fake, _ = service
    response = await client.post("/v1/ingest/traces", content=body("a"), headers=headers)
    assert response.status_code == 401
    assert "STORAGE_INGEST_TOKEN" in response.json()["error"]
    assert fake.batches == []


async def test_404_and_405(service):
    client, _, _ = service
    assert (await client.post("/v1/ingest/profiles", content=b"", headers=AUTH)).status_code == 404
    assert (await client.post("/v1/other", content=b"", headers=AUTH)).status_code == 404
    assert (await client.get("/v1/ingest/traces", headers=AUTH)).status_code == 405


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (body("a", header="start_time\tend_time"), "the first line must be the columns"),
        (body() + ENCODE(span_record("a")).replace("\t", " ", 3).encode() + b"\n", "row 0 has"),
        (body("a") + b"one\ttwo\n", "row 1 has 2 fields"),
        (body("a")[:-1], "ending in a newline"),
        (body("a").replace(b"client", b"\xff\xfe"), "not UTF-8"),
        (b"", "ending in a newline"),
    ],
)
async def test_400_for_a_body_that_is_not_rows_of_this_version(service, content, match):
    client, fake, _ = service
    response = await client.post("/v1/ingest/traces", content=content, headers=AUTH)
    assert response.status_code == 400
    assert match in response.json()["error"]
    assert fake.batches == []


AUTH_HEADER = (b"authorization", f"Bearer {TOKEN}".encode())


async def test_413_by_content_length_before_reading(service):
    _, fake, app = service
    receive = ChunkedReceive(chunks=100, size=1024)
    headers = [AUTH_HEADER, (b"content-length", str(MAX_BODY + 1).encode())]
    status, _ = await post(app, "/v1/ingest/traces", headers, receive)
    assert status == 413
    assert receive.served == 0
    assert fake.batches == []


async def test_413_while_streaming_a_body_without_length(service):
    _, fake, app = service
    receive = ChunkedReceive(chunks=100, size=1024)
    status, _ = await post(app, "/v1/ingest/traces", [AUTH_HEADER], receive)
    assert status == 413
    assert receive.served == MAX_BODY // receive.size + 1  # stopped past the limit
    assert fake.batches == []


async def test_503_when_the_queue_is_full(service):
    client, fake, _ = service
    fake.gate.clear()  # the database stalls
    first = asyncio.create_task(
        client.post("/v1/ingest/traces", content=body("a", "b", "c"), headers=AUTH)
    )
    await asyncio.sleep(0.05)
    response = await client.post("/v1/ingest/traces", content=body("d", "e"), headers=AUTH)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "queue full" in response.json()["error"]
    fake.gate.set()
    assert (await first).status_code == 200


async def test_503_when_the_database_fails_and_when_tables_are_missing(service):
    client, fake, _ = service
    fake.error = psycopg.OperationalError("connection refused")
    response = await client.post("/v1/ingest/traces", content=body("a"), headers=AUTH)
    assert response.status_code == 503
    assert "connection refused" in response.json()["error"]
    fake.error = psycopg.errors.UndefinedTable('relation "spans" does not exist')
    response = await client.post("/v1/ingest/traces", content=body("a"), headers=AUTH)
    assert response.status_code == 503
    assert "does not exist yet" in response.json()["error"]
