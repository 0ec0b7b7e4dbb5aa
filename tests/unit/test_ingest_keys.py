"""OTLP ingest keys (collector/keys.py): the INGEST_API_KEYS format, where a key may come
from, and the answers of both receivers without one."""

from __future__ import annotations

import hashlib

import grpc
import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from llm_observatory.collector.keys import IngestKeys, InvalidKeys, Unauthenticated, parse_keys
from llm_observatory.collector.receivers.grpc import make_grpc_server
from llm_observatory.collector.receivers.http import OtlpHttpApp
from llm_observatory.core.settings import CollectorSettings, InsecureConfiguration
from tests.support.collector_harness import collector_settings, running_collector
from tests.support.otlp_builders import simple_span, span_request

CI_KEY = "ci-key-0123456789abcdef"
LAPTOP_KEY = "laptop-key-fedcba9876543210"
KEYS = f"ci:{CI_KEY}, laptop : {LAPTOP_KEY} ,"


# --- INGEST_API_KEYS ---------------------------------------------------------------------


def test_parse_keys_maps_digests_to_names():
    keys = parse_keys(KEYS)
    assert keys == {
        hashlib.sha256(CI_KEY.encode()).digest(): "ci",
        hashlib.sha256(LAPTOP_KEY.encode()).digest(): "laptop",
    }
    assert parse_keys("") == {} and parse_keys(" , ") == {}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("no-colon-here-0123456789", "entry 1 must be name:key"),
        (f"ci:{CI_KEY},:{LAPTOP_KEY}", "entry 2 must be name:key"),
        ("ci:", "entry 1 must be name:key"),
        ("ci:short", "shorter than 16"),
        (f"{'n' * 65}:{CI_KEY}", "longer than 64"),
        (f"ci:{CI_KEY},other:{CI_KEY}", "'other' and 'ci' share a key"),
    ],
)
def test_parse_errors_name_the_entry(text, match):
    with pytest.raises(InvalidKeys, match=match):
        parse_keys(text)


def test_keys_are_kept_only_as_digests():
    # A presented key is hashed and looked up by its digest: no comparison with a stored
    # key, whose timing could tell how close a guess came.
    keys = IngestKeys(KEYS)
    held = repr(vars(keys))
    assert CI_KEY not in held and LAPTOP_KEY not in held
    assert set(keys._names) == set(parse_keys(KEYS))


# --- where a key comes from --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        ({b"authorization": f"Bearer {CI_KEY}".encode()}, "ci"),
        ({b"authorization": f"bearer   {LAPTOP_KEY} ".encode()}, "laptop"),
        ({b"x-api-key": CI_KEY.encode()}, "ci"),
        ({b"authorization": b"Basic abc", b"x-api-key": LAPTOP_KEY.encode()}, "laptop"),
    ],
)
def test_http_headers(headers, name):
    assert IngestKeys(KEYS).check_http(headers) == name


@pytest.mark.parametrize(
    ("metadata", "name"),
    [
        ((("authorization", f"Bearer {CI_KEY}"),), "ci"),
        ((("x-api-key", LAPTOP_KEY), ("user-agent", "otel")), "laptop"),
        ((("Authorization", f"Bearer {LAPTOP_KEY}"),), "laptop"),
    ],
)
def test_grpc_metadata(metadata, name):
    assert IngestKeys(KEYS).check_grpc(metadata) == name


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {b"authorization": b"Bearer "},
        {b"authorization": f"Basic {CI_KEY}".encode()},
        {b"authorization": f"Bearer {CI_KEY}x".encode()},
        {b"x-api-key": CI_KEY[:-1].encode()},
    ],
)
def test_missing_or_wrong_keys_are_unauthenticated(headers):
    with pytest.raises(Unauthenticated):
        IngestKeys(KEYS).check_http(headers)


def test_grpc_without_metadata_or_with_binary_values():
    keys = IngestKeys(KEYS)
    with pytest.raises(Unauthenticated, match="requires an ingest key"):
        keys.check_grpc(None)
    with pytest.raises(Unauthenticated):
        keys.check_grpc((("x-api-key", CI_KEY.encode()),))  # bytes: not a key


def test_without_keys_ingest_is_open():
    keys = IngestKeys("")
    assert not keys.required
    assert keys.check_http({}) is None
    assert keys.check_grpc(None) is None
    assert IngestKeys(KEYS).required


# --- through the receivers ---------------------------------------------------------------

BODY = span_request(simple_span()).SerializeToString()
PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
async def collector():
    async with running_collector(collector_settings()) as running:
        yield running


@pytest.fixture
async def http(collector):
    pipeline, storage = collector
    app = OtlpHttpApp(pipeline, IngestKeys(KEYS))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        yield client, storage


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789"])
async def test_http_401_without_a_valid_key(http, key):
    client, storage = http
    headers = PROTOBUF if key is None else {**PROTOBUF, "x-api-key": key}
    response = await client.post("/v1/traces", content=BODY, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.UNAUTHENTICATED
    assert not storage.rows


async def test_http_json_401_is_json(http):
    client, _ = http
    response = await client.post(
        "/v1/traces", content=b"{}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == code_pb2.UNAUTHENTICATED


async def test_http_stores_the_key_name_with_the_rows(http):
    client, storage = http
    response = await client.post(
        "/v1/traces", content=BODY, headers={**PROTOBUF, "authorization": f"Bearer {CI_KEY}"}
    )
    assert response.status_code == 200
    assert [row["ingest_key"] for row in storage.rows["traces"]] == ["ci"]


@pytest.fixture
async def grpc_stub(collector):
    pipeline, storage = collector
    server = make_grpc_server(pipeline, IngestKeys(KEYS), "127.0.0.1:0")
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield trace_service_pb2_grpc.TraceServiceStub(channel), storage
    await server.stop(None)


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer wrong-key-0123456789"),)])
async def test_grpc_unauthenticated_without_a_valid_key(grpc_stub, metadata):
    stub, storage = grpc_stub
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Export(span_request(simple_span()), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not storage.rows


async def test_grpc_stores_the_key_name_with_the_rows(grpc_stub):
    stub, storage = grpc_stub
    await stub.Export(span_request(simple_span()), metadata=(("x-api-key", LAPTOP_KEY),))
    assert [row["ingest_key"] for row in storage.rows["traces"]] == ["laptop"]


# --- production --------------------------------------------------------------------------


def test_production_refuses_open_ingest(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("STORAGE_INGEST_TOKEN", "a-real-storage-token-0123456789")
    monkeypatch.delenv("INGEST_API_KEYS", raising=False)
    with pytest.raises(InsecureConfiguration, match="INGEST_API_KEYS"):
        CollectorSettings().check_production()
    monkeypatch.setenv("INGEST_API_KEYS", " , ")
    with pytest.raises(InsecureConfiguration, match="INGEST_API_KEYS"):
        CollectorSettings().check_production()
    monkeypatch.setenv("INGEST_API_KEYS", KEYS)
    CollectorSettings().check_production()


def test_malformed_keys_stop_the_collector_with_exit_code_2() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "llm_observatory.collector.main"],
        env={"INGEST_API_KEYS": "ci:short", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "INGEST_API_KEYS" in result.stderr and "Traceback" not in result.stderr
