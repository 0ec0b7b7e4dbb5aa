"""Fixtures the smoke modules share; a module may override one (test_cli builds its image)."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture(scope="module")
def stack(test_stack):
    return test_stack


@pytest.fixture(scope="module")
def db(stack):
    """The stack's database as its owner, autocommit: each statement sees committed rows."""
    with psycopg.connect(stack.database_url(), autocommit=True) as conn:
        yield conn
