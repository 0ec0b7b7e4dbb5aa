"""The production stack on a real three-node Docker Swarm (conftest.py builds it).

The kernel of our CI machines has no IPVS, so Swarm's routing mesh and its virtual IPs
cannot work there: the stack runs with deploy/swarm/nomesh.yml, every service found by
DNS round robin, and deploy/swarm/edge.py on every node standing in for the mesh (a
TCP proxy on host-mode ports that forwards each connection to the next task over the
overlay). What that proves: any node's address reaches the replicas on every node,
balanced per connection; scaling and draining work with clients on every address; the
overlays, secrets, configs, placement and the converted stack file work across nodes.
What it does not prove: IPVS itself, the VIPs' kernel NAT, and how the mesh behaves
while tasks change (it keeps the VIP and reroutes; the edge finds the tasks again for
each connection). Encryption of the backend network cannot run here either (no ESP in
the kernel): tests/unit/test_swarm_stack.py checks the production file asks for it.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from llm_observatory.api.auth import mint_token
from llm_observatory.core.settings import ApiSettings
from tests.support.otlp_builders import simple_span, span_request
from tests.support.swarm_cluster import INGEST_KEY, NODES, SECRETS, STACK, Cluster

pytestmark = [pytest.mark.docker]

PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "python:3.13.7-slim-trixie")
ADDRESSES = [Cluster.node_ip(k) for k in range(1, NODES + 1)]
RETRYABLE = {429, 502, 503, 504}
# Each collector task's accepted traces, from its own /metrics, found through
# tasks.collector on the (attachable) frontend overlay.
PER_REPLICA = """
import json, socket, urllib.request
ips = sorted({i[4][0] for i in socket.getaddrinfo("tasks.collector", 9090)})
counts = {}
for ip in ips:
    page = urllib.request.urlopen(f"http://{ip}:9090/metrics", timeout=5).read().decode()
    counts[ip] = sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
                     if line.startswith("llmo_collector_items_accepted_total{")
                     and 'signal="traces"' in line)
print(json.dumps(counts))
"""
API_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'llm-observatory-api'"
)
MAINTENANCE_METRICS = """
import urllib.request
print(urllib.request.urlopen("http://tasks.maintenance:9090/metrics", timeout=5).read().decode())
"""


def eventually(check: Callable[[], bool], seconds: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"not within {seconds}s: {what}")


def export(address: str, name: str, *, spans: int = 1, client: httpx.Client | None = None):
    """One OTLP/HTTP export of `spans` new spans to a node's address: (status, span ids)."""
    trace_id, now = os.urandom(16), time.time_ns()
    span_ids = [os.urandom(8) for _ in range(spans)]
    body = span_request(
        *(
            simple_span(
                name,
                trace_id=trace_id,
                span_id=sid,
                start_time_unix_nano=now,
                end_time_unix_nano=now + 1000,
            )
            for sid in span_ids
        ),
        service_name="swarm-test",
    ).SerializeToString()
    headers = {
        "content-type": "application/x-protobuf",
        "x-api-key": INGEST_KEY,
        "connection": "close",
    }
    post = (client or httpx).post
    response = post(f"http://{address}:4318/v1/traces", content=body, headers=headers, timeout=15)
    return response.status_code, trace_id.hex(), [s.hex() for s in span_ids]


def task_nodes(cluster: Cluster, service: str) -> dict[str, str]:
    """Running task -> node hostname."""
    out = cluster.docker(
        1,
        "service",
        "ps",
        f"{STACK}_{service}",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}} {{.Node}} {{.CurrentState}}",
    ).stdout
    return {
        line.split()[0]: line.split()[1] for line in out.splitlines() if " Running " in f" {line} "
    }


def container(cluster: Cluster, service: str) -> tuple[int, str]:
    """(node, container id) of the service's running task."""
    node = next(iter(task_nodes(cluster, service).values()))
    k = int(node.removeprefix("llmosw-node"))
    ids = cluster.docker(
        k, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}"
    ).stdout.split()
    assert ids, f"no running container of {service} on {node}"
    return k, ids[0]


def sql(cluster: Cluster, service: str, query: str, stdin: str | None = None) -> str:
    k, cid = container(cluster, service)
    return cluster.docker(
        k,
        "exec",
        "-i",
        cid,
        "psql",
        "-U",
        os.environ.get("DB_USER", "postgres"),
        "-d",
        "llm_observatory",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        query,
        input=stdin,
    ).stdout.strip()


def probe(cluster: Cluster, network: str, code: str) -> str:
    return cluster.docker(
        1,
        "run",
        "--rm",
        "--network",
        f"{STACK}_{network}",
        PYTHON_IMAGE,
        "python",
        "-c",
        code,
    ).stdout


def stored(cluster: Cluster, span_ids: list[str]) -> set[str]:
    listed = ",".join(f"'{sid}'" for sid in span_ids)
    out = sql(cluster, "timescaledb", f"SELECT span_id FROM spans WHERE span_id IN ({listed})")
    return set(out.split())


@pytest.fixture(scope="module")
def api() -> httpx.Client:
    settings = ApiSettings(jwt_secret=SECRETS["JWT_SECRET"])
    token = mint_token("swarm-test", 600, settings)
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        yield client


def test_the_stack_runs_across_the_nodes_where_its_labels_put_it(stack):
    print(stack.deploy_output[-2500:])
    assert task_nodes(stack, "timescaledb") == {f"{STACK}_timescaledb.1": "llmosw-node1"}
    assert set(task_nodes(stack, "timescaledb-replica").values()) == {"llmosw-node2"}
    assert set(task_nodes(stack, "redis").values()) == {"llmosw-node1"}
    assert len(task_nodes(stack, "mesh-edge")) == NODES
    # Our services hold their secrets as files; nothing secret is in any service's spec.
    for service in ("timescaledb", "maintenance", "storage", "collector", "api"):
        spec = stack.docker(1, "service", "inspect", f"{STACK}_{service}").stdout
        leaked = [name for name, value in SECRETS.items() if value in spec]
        assert not leaked, f"{service}'s spec holds {leaked}"


def test_otlp_sent_to_every_nodes_address_lands_in_spans(stack):
    assert len(task_nodes(stack, "collector")) == 1  # one replica, on one of the nodes
    sent = []
    for address in ADDRESSES:
        status, _, span_ids = export(address, "probe via every node")
        assert status == 200, address
        sent += span_ids
    assert eventually(lambda: stored(stack, sent) == set(sent), 10, "the spans in the table")


def test_scaling_the_collector_from_one_to_three_spreads_the_traffic(stack):
    step = time.monotonic()
    stack.docker(1, "service", "scale", "--detach", f"{STACK}_collector=3")
    eventually(lambda: len(task_nodes(stack, "collector")) == 3, 120, "three collector tasks")
    # healthy: the edge reaches only tasks that listen
    eventually(lambda: len(json.loads(probe(stack, "frontend", PER_REPLICA))) == 3, 60, "3 IPs")
    stack.timed("scale the collector 1 -> 3", step)
    assert len(set(task_nodes(stack, "collector").values())) == 3, "one task per node"
    before = json.loads(probe(stack, "frontend", PER_REPLICA))
    for address in itertools.islice(itertools.cycle(ADDRESSES), 30):  # new connection each
        assert export(address, "probe after scale")[0] == 200
    after = json.loads(probe(stack, "frontend", PER_REPLICA))
    took = {ip: after[ip] - before.get(ip, 0) for ip in after}
    print(f"spans accepted per collector replica: {took}")
    assert len(took) == 3 and all(count > 0 for count in took.values()), took


def test_draining_a_collector_node_under_load_loses_no_acknowledged_span(stack):
    acked: list[str] = []
    retried = [0]
    failed: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def sender(offset: int) -> None:
        # An exporter with several endpoints: the next node's address on any failure.
        addresses = itertools.cycle(ADDRESSES[offset:] + ADDRESSES[:offset])
        address = next(addresses)
        while not stop.is_set():
            for _ in range(2 * NODES):
                try:
                    status, _, span_ids = export(address, "probe during drain", spans=5)
                except httpx.HTTPError:
                    status, span_ids = 0, []
                if status == 200:
                    with lock:
                        acked.extend(span_ids)
                    break
                if status and status not in RETRYABLE:
                    failed.append(f"{address}: {status}")
                    return
                retried[0] += 1
                address = next(addresses)
            address = next(addresses)

    drained = "llmosw-node3"
    assert drained in task_nodes(stack, "collector").values()
    threads = [threading.Thread(target=sender, args=(i % NODES,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        step = time.monotonic()
        stack.docker(1, "node", "update", "--availability", "drain", drained)
        eventually(lambda: drained not in task_nodes(stack, "collector").values(), 60, "moved")
        eventually(lambda: not stack.docker(3, "ps", "-q").stdout.split(), 60, "node3 empty")
        stack.timed("drain node 3 until it runs nothing", step)
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not failed, failed
    assert len(acked) > 50, f"only {len(acked)} spans acknowledged"
    missing = set(acked) - stored(stack, acked)
    print(f"drain: {len(acked)} spans acknowledged, {retried[0]} exports retried elsewhere")
    assert not missing, f"{len(missing)} acknowledged spans are not stored"
    assert drained not in set(task_nodes(stack, "collector").values())
    stack.docker(1, "node", "update", "--availability", "active", drained)


def test_a_row_written_through_the_primary_is_read_from_the_replica_through_the_api(stack, api):
    def visible(trace_id: str) -> bool:
        try:
            response = api.get(f"http://{ADDRESSES[0]}:8080/api/v1/traces/{trace_id}")
        except httpx.TransportError:  # no API task listens yet (moved by the drain)
            return False
        assert response.status_code in {200, 404}, response.text
        return response.status_code == 200

    eventually(lambda: len(task_nodes(stack, "api")) == 2, 60, "both API tasks running")
    streaming = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
    eventually(lambda: sql(stack, "timescaledb", streaming) == "1", 60, "the replica streaming")
    # An API task that started before the replica answered fell back to the primary,
    # and its pool keeps those connections (psycopg_pool's max_lifetime, an hour): the
    # remedy docs/SCALING.md gives is a rolling restart of the API.
    on_primary = sql(stack, "timescaledb", API_CONNECTIONS)
    print(
        f"API connections: {on_primary} on the primary, "
        f"{sql(stack, 'timescaledb-replica', API_CONNECTIONS)} on the replica"
    )
    if on_primary != "0":
        stack.docker(1, "service", "update", "--force", "--detach=true", f"{STACK}_api")
        eventually(
            lambda: sql(stack, "timescaledb", API_CONNECTIONS) == "0",
            120,
            "the restarted API tasks on the replica",
        )
    status, trace_id, _ = export(ADDRESSES[1], "probe for the replica")
    assert status == 200
    waited = eventually(lambda: visible(trace_id), 30, "the row through the API")
    print(f"written through the primary, read through the API after {waited:.2f}s")
    # The reads come from the replica: with its replay paused, a stored row stays unseen.
    sql(stack, "timescaledb-replica", "SELECT pg_wal_replay_pause()")
    try:
        status, trace_id, span_ids = export(ADDRESSES[2], "probe while replay is paused")
        assert status == 200 and stored(stack, span_ids) == set(span_ids)
        time.sleep(1.5)
        assert not any(visible(trace_id) for _ in range(4)), "an API task read the primary"
    finally:
        sql(stack, "timescaledb-replica", "SELECT pg_wal_replay_resume()")
    eventually(lambda: visible(trace_id), 10, "the row once replay resumed")


def test_the_replication_lag_metric_is_exported(stack):
    def exported() -> bool:
        return 'llmo_replication_lag_bytes{replica="replica_1"}' in probe(
            stack, "backend", MAINTENANCE_METRICS
        )

    eventually(exported, 60, "llmo_replication_lag_bytes for replica_1")
    page = probe(stack, "backend", MAINTENANCE_METRICS)
    assert "llmo_replication_replicas 1.0" in page
    assert 'llmo_replication_slot_active{slot="replica_1"} 1.0' in page
