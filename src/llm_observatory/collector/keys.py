"""Ingest API keys for OTLP: who may write, and the name stored with what they sent.

INGEST_API_KEYS lists `name:key` pairs (comma-separated). With none configured, ingest
is open (development); production refuses to start without keys. A key comes in
`Authorization: Bearer <key>` or `x-api-key: <key>`, as an HTTP header or gRPC
metadata (what OTEL_EXPORTER_OTLP_HEADERS sets). Keys are kept only as SHA-256
digests, and a presented key is looked up by its digest, so checking one costs the
same whichever key it is close to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


class Unauthenticated(Exception):
    """No key, or not one of ours (HTTP 401 / gRPC UNAUTHENTICATED)."""


class InvalidKeys(ValueError):
    """INGEST_API_KEYS cannot be read; the message names the entry."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_keys(text: str) -> dict[bytes, str]:
    """'name:key,name2:key2' -> {sha256(key): name}."""
    keys: dict[bytes, str] = {}
    for position, entry in enumerate(part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, sep, key = entry.partition(":")
        name, key = name.strip(), key.strip()
        if not sep or not name or not key:
            raise InvalidKeys(f"INGEST_API_KEYS entry {position + 1} must be name:key")
        if len(key) < 16:
            raise InvalidKeys(f"INGEST_API_KEYS key of {name!r} is shorter than 16 characters")
        if len(name) > 64:
            raise InvalidKeys(f"INGEST_API_KEYS name {name[:20]!r}... is longer than 64")
        digest = _digest(key)
        if digest in keys:
            raise InvalidKeys(f"INGEST_API_KEYS: {name!r} and {keys[digest]!r} share a key")
        keys[digest] = name
    return keys


class IngestKeys:
    def __init__(self, text: str) -> None:
        self._names = parse_keys(text)

    @property
    def required(self) -> bool:
        return bool(self._names)

    def _check(self, presented: str | None) -> str | None:
        if not self._names:
            return None
        if not presented:
            raise Unauthenticated(
                "this collector requires an ingest key: send 'Authorization: Bearer <key>' or "
                "'x-api-key: <key>' (OTEL_EXPORTER_OTLP_HEADERS)"
            )
        name = self._names.get(_digest(presented))
        if name is None:
            raise Unauthenticated("the ingest key is not valid")
        return name

    def check_http(self, headers: Mapping[bytes, bytes]) -> str | None:
        """The key's name (None when keys are off); raises Unauthenticated."""
        return self._check(_presented(
            headers.get(b"authorization", b"").decode("latin-1"),
            headers.get(b"x-api-key", b"").decode("latin-1"),
        ))  # fmt: skip

    def check_grpc(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
        values = {key.lower(): value for key, value in metadata or ()}
        authorization = values.get("authorization", "")
        api_key = values.get("x-api-key", "")
        return self._check(
            _presented(
                authorization if isinstance(authorization, str) else "",
                api_key if isinstance(api_key, str) else "",
            )
        )


def _presented(authorization: str, api_key: str) -> str | None:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return api_key.strip() or None
