"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Explicit SQL only (no models). Anything a new table needs: hypertable, indexes,
grants to the app role (SELECT, INSERT, UPDATE, DELETE) and the read-only role
(SELECT), as 0001 does.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op  # noqa: F401  (used by the SQL you write)

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else 'raise NotImplementedError("write the upgrade SQL: op.execute(...)")'}


def downgrade() -> None:
    ${downgrades if downgrades else 'raise NotImplementedError("write the downgrade SQL: op.execute(...)")'}
