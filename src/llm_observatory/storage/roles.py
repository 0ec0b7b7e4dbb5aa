"""The database roles the schema grants to, and the GRANT statements migrations use.

Role names come from DB_APP_USER / DB_READONLY_USER, as the init script creates them.
A grant to a role that does not exist is a NOTICE, not a failure: a schema made
without our init script (a managed database) still migrates.
"""

from __future__ import annotations

from collections.abc import Sequence

from llm_observatory.core.connection_settings import DatabaseRoles


def _role(field: str) -> str:
    # Empty means the default role, as the init script reads it.
    return getattr(DatabaseRoles(), field) or DatabaseRoles.model_fields[field].default


def app_role() -> str:
    return _role("db_app_user")


def readonly_role() -> str:
    return _role("db_readonly_user")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _if_role_exists(role: str, command: str, what: str) -> str:
    return f"""
    DO $grant$
    BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) THEN
            EXECUTE format('{command} %I', {_literal(role)});
        ELSE
            RAISE NOTICE 'role % does not exist: skipping {what}', {_literal(role)};
        END IF;
    END
    $grant$
    """


def grant_sql(role: str, privileges: str, objects: Sequence[str]) -> str:
    """GRANT privileges on tables to a role if it exists."""
    on = ", ".join(objects)
    return _if_role_exists(
        role, f"GRANT {privileges} ON TABLE {on} TO", f"GRANT {privileges} ON {on}"
    )


def revoke_sql(role: str, privileges: str, objects: Sequence[str]) -> str:
    """REVOKE privileges on tables from a role if it exists."""
    on = ", ".join(objects)
    return _if_role_exists(
        role, f"REVOKE {privileges} ON TABLE {on} FROM", f"REVOKE {privileges} ON {on}"
    )
