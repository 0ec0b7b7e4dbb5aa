"""Rows the database refuses, against a real TimescaleDB: the good rows of a batch commit,
the bad ones land in rejected_records with the database's reason, and only an
unavailable database fails the whole batch.

Rows are written as the collector sends them (COPY text, core/rows.py), some of them
broken by hand the way a client, a bug or a hostile sender could break them.
"""

from __future__ import annotations

import asyncio
import random
import socket
import string

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.settings import StorageSettings
from llm_observatory.core.signals import LOGS, METRICS, SIGNALS, TRACES, Signal
from llm_observatory.storage.service import IngestApp, Storage
from llm_observatory.storage.writer import TableWriter, WriteResult
from tests.support.span_records import realistic_spans, span_record

T0 = 1_700_000_000_000_000_000


def incompressible(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def span(tag: str, i: int, **fields) -> SpanRecord:
    return span_record(
        f"{tag} {i}", i, start_ns=T0, **({"service_name": "svc", "ingest_key": "ci"} | fields)
    )


def encode(signal: Signal, record) -> bytes:
    return signal.table.row_encoder()(record).encode()


def with_field(signal: Signal, row: bytes, column: str, text: bytes) -> bytes:
    """The row with one field's COPY text replaced (what no encoder would write)."""
    fields = row.split(b"\t")
    fields[signal.table.column_names.index(column)] = text
    return b"\t".join(fields)


def write(url: str, signal: Signal, *batches: list[bytes], **pool_args) -> list[WriteResult]:
    async def main() -> list[WriteResult]:
        options = {"min_size": 1, "max_size": 2, "open": False} | pool_args
        async with AsyncConnectionPool(url, **options) as pool:
            writer = TableWriter(pool, signal, max_record_bytes=1024)
            return [await writer.write_rows(batch) for batch in batches]

    return asyncio.run(main())


def rejected_since(fetch, url: str, marker: int) -> list[dict]:
    return fetch(
        url,
        "SELECT signal, reason, record, record_size, ingest_key FROM rejected_records "
        "WHERE record_size > 0 ORDER BY received_at OFFSET %s",
        (marker,),
    )


def rejected_count(fetch, url: str) -> int:
    return fetch(url, "SELECT count(*) AS n FROM rejected_records")[0]["n"]


def test_bad_rows_are_refused_alone_and_kept(app_url: str, migrated_url: str, fetch) -> None:
    good = [encode(TRACES, span("mixed", i)) for i in range(4)]
    big = encode(TRACES, span("mixed", 10, service_name=incompressible(3000)))
    bad_time = with_field(
        TRACES, encode(TRACES, span("mixed", 11)), "start_time", b"half past nine"
    )
    bad_json = with_field(TRACES, encode(TRACES, span("mixed", 12)), "attributes", b"{not json")
    nul = encode(TRACES, span("mixed", 13)).replace(b"mixed 13", b"mixed\x0013")
    rows = [good[0], big, good[1], bad_time, bad_json, good[2], nul, good[3]]
    before = rejected_count(fetch, migrated_url)

    (result,) = write(app_url, TRACES, rows)

    assert [position for position, _ in result.refused] == [1, 3, 4, 6]
    reasons = dict(result.refused)
    assert "index row" in reasons[1] and "SQLSTATE 54000" in reasons[1]
    assert "timestamp" in reasons[3] and "half past nine" in reasons[3]
    assert "json" in reasons[4].lower()
    assert "0x00" in reasons[6] or "null" in reasons[6].lower()
    assert result.inserted == 4
    names = fetch(migrated_url, "SELECT name FROM spans WHERE name LIKE 'mixed %%' ORDER BY name")
    assert [row["name"] for row in names] == ["mixed 0", "mixed 1", "mixed 2", "mixed 3"]

    kept = rejected_since(fetch, migrated_url, before)
    assert len(kept) == 4
    by_size = {row["record_size"]: row for row in kept}
    for position in (1, 3, 4, 6):
        row = by_size[len(rows[position])]
        assert row["signal"] == "traces"
        assert row["reason"] == reasons[position]
        assert row["ingest_key"] == "ci"
        assert len(row["record"]) <= 1024  # max_record_bytes
    assert by_size[len(bad_json)]["record"] == bad_json.decode()  # the row as received
    assert "\x00" not in by_size[len(nul)]["record"]


def test_a_batch_of_only_bad_rows(app_url: str, migrated_url: str, fetch) -> None:
    rows = [
        with_field(TRACES, encode(TRACES, span("allbad", i)), "end_time", b"never")
        for i in range(5)
    ]
    before = rejected_count(fetch, migrated_url)
    (result,) = write(app_url, TRACES, rows)
    assert result.inserted == 0
    assert [position for position, _ in result.refused] == [0, 1, 2, 3, 4]
    assert rejected_count(fetch, migrated_url) - before == 5


@pytest.mark.parametrize("signal", [METRICS, LOGS], ids=lambda s: s.name)
def test_other_signals_refuse_rows_the_same_way(
    app_url: str, migrated_url: str, fetch, signal: Signal
) -> None:
    if signal is METRICS:
        records = [
            MetricPointRecord(metric_name=name, metric_type="gauge", time_unix_nano=T0, value=1.0)
            for name in ("m.good", incompressible(3000, seed=2), "m.good2")
        ]
    else:
        records = [
            LogRecordRow(time_unix_nano=T0, service_name=name, body="b", ingest_key="laptop")
            for name in ("l.good", incompressible(3000, seed=3), "l.good2")
        ]
    rows = [encode(signal, record) for record in records]
    before = rejected_count(fetch, migrated_url)
    (result,) = write(app_url, signal, rows)
    assert result.inserted == 2
    assert [position for position, _ in result.refused] == [1]
    (kept,) = rejected_since(fetch, migrated_url, before)
    assert kept["signal"] == signal.name
    assert kept["ingest_key"] == ("laptop" if signal is LOGS else None)


def test_a_second_write_of_the_same_spans_is_ignored(
    app_url: str, migrated_url: str, fetch
) -> None:
    rows = [encode(TRACES, span("twice", i)) for i in range(3)]
    before = rejected_count(fetch, migrated_url)
    first, second = write(app_url, TRACES, rows, rows)
    assert (first.inserted, first.refused) == (3, [])
    assert (second.inserted, second.refused) == (0, [])
    assert rejected_count(fetch, migrated_url) == before


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingPool(AsyncConnectionPool):
    """Counts the connections asked for: one per transaction the writer tries."""

    uses = 0

    def connection(self, *args, **kwargs):
        self.uses += 1
        return super().connection(*args, **kwargs)


def write_failing(url: str, rows: list[bytes], **pool_args) -> tuple[BaseException, int]:
    """Write rows that must fail; (the exception, the transactions tried)."""

    async def main() -> tuple[BaseException, int]:
        options = {"min_size": 1, "max_size": 2, "open": False} | pool_args
        async with CountingPool(url, **options) as pool:
            writer = TableWriter(pool, TRACES)
            with pytest.raises(psycopg.Error) as caught:
                await writer.write_rows(rows)
            return caught.value, pool.uses

    return asyncio.run(main())


def test_an_unreachable_database_raises_instead_of_refusing_rows() -> None:
    url = f"postgresql://postgres:postgres@127.0.0.1:{_closed_port()}/postgres"
    rows = [encode(TRACES, span("down", i)) for i in range(8)]
    error, tried = write_failing(url, rows, timeout=1)
    assert isinstance(error, psycopg.OperationalError)
    assert tried == 1  # not split in search of bad rows


def test_a_statement_timeout_raises_instead_of_refusing_rows(
    migrated_url: str, app_role: str, fetch
) -> None:
    records = realistic_spans(3000, seed=5)
    rows = [encode(TRACES, record) for record in records]
    before = rejected_count(fetch, migrated_url)
    # the app role, with a statement timeout of 1 ms: no batch of 3,000 spans makes it
    slow = f"{migrated_url}?options=-c%20role%3D{app_role}%20-c%20statement_timeout%3D1"
    error, tried = write_failing(slow, rows)
    assert isinstance(error, psycopg.errors.QueryCanceled)
    assert tried == 1
    assert rejected_count(fetch, migrated_url) == before  # nothing blamed on the rows
    stored = fetch(
        migrated_url,
        "SELECT count(*) AS n FROM spans WHERE trace_id = ANY(%s)",
        ([r.trace_id for r in records],),
    )
    assert stored[0]["n"] == 0


def test_the_ingest_api_answers_the_refused_positions(app_url: str, migrated_url: str) -> None:
    """storage's service over the real writer: 200 with the positions of the bad rows."""
    token = "test-storage-token-0123456789"
    header = SIGNALS["traces"].table.header.encode()
    rows = [
        encode(TRACES, span("api", 0)),
        with_field(TRACES, encode(TRACES, span("api", 1)), "start_time", b"soon"),
        encode(TRACES, span("api", 2)),
    ]

    async def main() -> httpx.Response:
        async with AsyncConnectionPool(app_url, min_size=1, max_size=2, open=False) as pool:
            storage = Storage(StorageSettings(storage_ingest_token=token), pool)
            storage.start()
            transport = httpx.ASGITransport(app=IngestApp(storage))
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                    return await client.post(
                        "/v1/ingest/traces",
                        content=b"\n".join([header, *rows, b""]),
                        headers={"authorization": f"Bearer {token}"},
                    )
            finally:
                await storage.stop()

    response = asyncio.run(main())
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 2
    assert [position for position, _ in answer["rejected"]] == [1]
    assert "soon" in answer["rejected"][0][1]
