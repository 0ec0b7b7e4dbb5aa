"""lz4 for stored content: prompts, completions, attributes and log bodies

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:00:00

An LLM span row is about 3 KB, most of it JSON (messages, attributes) that PostgreSQL
compresses when it moves the row's large values out of line. Its default, pglz, costs
more CPU per row than lz4 for about the same size: on the ingest benchmark's rows,
COPY into `spans` took 98 µs of database CPU per row with pglz and 77 µs with lz4
(docs/INGEST.md). Setting the method on a hypertable's column sets it on its chunks
too; values already stored keep their method until they are rewritten.

Servers built without lz4 (`default_toast_compression` does not offer it) keep pglz:
nothing here is required for correctness.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables whose JSON columns hold what clients send.
TABLES = ("spans", "log_records", "metric_points", "rejected_records")

_JSON_COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = ANY(:tables) AND data_type IN ('jsonb', 'text')
ORDER BY table_name, ordinal_position
"""

_HAS_LZ4 = """
SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'
"""


def _set(method: str) -> None:
    bind = op.get_bind()
    if not bind.execute(text(_HAS_LZ4)).scalar():
        return
    for table, column in bind.execute(text(_JSON_COLUMNS), {"tables": list(TABLES)}):
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}')


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
