"""ENABLE_TEXT_SEARCH: maintenance drops the full-text indexes and makes them again as 0005 did."""

from __future__ import annotations

import asyncio

import psycopg

from llm_observatory.storage.search_indexes import SEARCH_INDEXES, keep_search_indexes

DEFINITIONS = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)"


def definitions(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return dict(conn.execute(DEFINITIONS, (list(SEARCH_INDEXES),)).fetchall())


def keep(url: str, enabled: bool) -> list[str]:
    async def run() -> list[str]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await keep_search_indexes(conn, enabled)

    return asyncio.run(run())


def test_search_indexes_follow_the_setting(migrated_url: str) -> None:
    made_by_0005 = definitions(migrated_url)
    assert set(made_by_0005) == set(SEARCH_INDEXES)
    assert keep(migrated_url, True) == []  # already there: nothing to do

    dropped = keep(migrated_url, False)
    assert dropped == [f"dropped {name}" for name in SEARCH_INDEXES]
    assert definitions(migrated_url) == {}
    assert keep(migrated_url, False) == []

    created = keep(migrated_url, True)
    assert created == [f"created {name}" for name in SEARCH_INDEXES]
    # The same indexes as the migration's, so the API's queries still use them.
    assert definitions(migrated_url) == made_by_0005
