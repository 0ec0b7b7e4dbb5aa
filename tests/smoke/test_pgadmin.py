"""pgAdmin (profile admin) in the test stack: sign in through the web login, find the
database docker/pgadmin/servers.json registers, and connect to it through pgAdmin.

What a person does in the browser, over pgAdmin's own HTTP interface: the login page
carries a CSRF token bound to the session, the login form posts it back, and the
browser tree's JSON endpoints (server groups, servers, databases) take it as the
X-pgA-CSRFToken header.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import httpx
import pytest

from tests.support.compose_stack import ROOT

SERVERS_JSON = ROOT / "docker" / "pgadmin" / "servers.json"
CSRF_HEADER = "X-pgA-CSRFToken"


@pytest.fixture(scope="module")
def pgadmin(test_stack) -> str:
    """pgAdmin started in the test stack and healthy; its base URL. Stopped afterwards."""
    # A stand-in cannot be pulled: without it, say how to build it. Upstream's is pulled.
    image = os.environ.get("PGADMIN_IMAGE", "")
    if (
        image.startswith("llm-observatory-airgap/")
        and subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ):
        reason = f"image {image} not built (run bash .ci/airgap-images.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the pgAdmin tests, but: {reason}", pytrace=False)
        pytest.skip(reason)
    started = test_stack.compose(
        "--profile",
        "admin",
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "180",
        "pgadmin",
        check=False,
    )
    try:
        if started.returncode != 0:
            logs = test_stack.compose("--profile", "admin", "logs", "--tail", "40", "pgadmin")
            pytest.fail(f"pgAdmin did not become healthy:\n{started.stderr}\n{logs.stdout}")
        yield test_stack.url("pgadmin", 80)
    finally:
        test_stack.compose("--profile", "admin", "rm", "--stop", "--force", "pgadmin", check=False)


def credentials(stack) -> tuple[str, str]:
    return (
        stack.var("PGADMIN_EMAIL", "admin@llm-observatory.local"),
        stack.var("PGADMIN_PASSWORD", "admin_dev"),
    )


def sign_in(client: httpx.Client, email: str, password: str) -> tuple[str, str]:
    """Post the login form as the login page asks: the session's CSRF token, and where the
    login sent the client (the browser, or back to the login page)."""
    page = client.get("/login")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'"csrfToken":\s*"([^"]+)"', page.text)
    assert found, "no CSRF token on pgAdmin's login page"
    token = found.group(1)
    answer = client.post(
        "/authenticate/login", data={"csrf_token": token, "email": email, "password": password}
    )
    assert answer.status_code == 302, answer.text[:300]
    return token, answer.headers["location"]


def tree(client: httpx.Client, token: str, path: str) -> list[dict]:
    """One level of pgAdmin's browser tree (JSON), as the browser fetches it."""
    answer = client.get(path, headers={CSRF_HEADER: token})
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
    body = answer.json()
    assert body["success"] == 1, body
    return body["data"] if body.get("data") is not None else body["result"]


def registered_server(client: httpx.Client, token: str, group_name: str) -> tuple[dict, dict]:
    groups = {g["label"]: g for g in tree(client, token, "/browser/server_group/nodes/")}
    assert group_name in groups, f"no server group {group_name!r} in {sorted(groups)}"
    group = groups[group_name]
    [server] = tree(client, token, f"/browser/server/nodes/{group['_id']}/")
    return group, server


def test_sign_in_finds_and_connects_to_the_registered_database(pgadmin, test_stack):
    expected = json.loads(SERVERS_JSON.read_text())["Servers"]["1"]
    email, password = credentials(test_stack)
    with httpx.Client(base_url=pgadmin, timeout=30) as client:
        token, landed = sign_in(client, email, password)
        assert landed == "/browser/"
        group, server = registered_server(client, token, expected["Group"])
        assert server["label"] == expected["Name"]
        assert (server["host"], server["db"], server["username"]) == (
            expected["Host"],
            expected["MaintenanceDB"],
            expected["Username"],
        )

        # Through pgAdmin, over the backend network, with the password servers.json
        # leaves out on purpose.
        gid, sid = group["_id"], server["_id"]
        answer = client.post(
            f"/browser/server/connect/{gid}/{sid}",
            json={"password": test_stack.var("DB_PASSWORD", "postgres_dev_password")},
            headers={CSRF_HEADER: token},
        )
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["data"]["connected"] is True
        databases = tree(client, token, f"/browser/database/nodes/{gid}/{sid}/")
        assert expected["MaintenanceDB"] in {db["label"] for db in databases}


def test_a_wrong_password_gets_no_session(pgadmin, test_stack):
    email, _ = credentials(test_stack)
    with httpx.Client(base_url=pgadmin, timeout=30) as client:
        token, landed = sign_in(client, email, "not-the-password")
        assert landed.startswith("/login")
        answer = client.get("/browser/server_group/nodes/", headers={CSRF_HEADER: token})
        assert answer.status_code == 302
        assert answer.headers["location"].startswith("/login")
