"""`check-production`: the stack's secrets, checked before a production stack starts.

Our own services refuse development secrets when they start (core/startup.py), but
TimescaleDB, Redis, Grafana and pgAdmin take whatever compose passes them. In
docker-compose.prod.yml a one-shot `preflight` service runs this command with every
secret of DEVELOPMENT_SECRETS in its environment, and every other service waits for
it to succeed; `invoke prod` runs the same check before it starts anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from llm_observatory.core.settings import (
    DEVELOPMENT_SECRETS,
    JWT_SECRET_MIN_BYTES,
    SECRET_MIN_LENGTH,
)


def minimum_length(name: str) -> tuple[int, str]:
    """(least size, unit) for a secret: JWT_SECRET is an HMAC key, counted in bytes."""
    if name == "JWT_SECRET":
        return JWT_SECRET_MIN_BYTES, "bytes"
    return SECRET_MIN_LENGTH, "characters"


def problems(environ: Mapping[str, str]) -> list[str]:
    """One line per secret production must not run with; empty when all are fine.

    A variable that is not set counts as its development default: that is what the
    compose files fall back to.
    """
    found = []
    development_values = set(DEVELOPMENT_SECRETS.values())
    for name in DEVELOPMENT_SECRETS:
        value = environ.get(name)
        if not value:
            found.append(f"{name} is not set (compose would use the development default)")
            continue
        least, unit = minimum_length(name)
        size = len(value.encode()) if unit == "bytes" else len(value)
        if value in development_values:
            found.append(f"{name} is a development default")
        elif size < least:
            found.append(f"{name} is {size} {unit} long (at least {least})")
    return found


def report(environ: Mapping[str, str]) -> tuple[bool, str]:
    """(fine, what to print): the message names each variable and says what to do."""
    found = problems(environ)
    if not found:
        return True, f"production secrets: {len(DEVELOPMENT_SECRETS)} checked, none refused"
    lines = "\n".join(f"  - {line}" for line in found)
    return False, (
        f"production refuses to start with these secrets:\n{lines}\n"
        "Set new values in .env (`invoke env` writes a .env with random ones). The database "
        "roles and the Grafana and pgAdmin admins take their passwords on first start only: "
        "on an existing stack change them there too, or recreate its volumes."
    )
