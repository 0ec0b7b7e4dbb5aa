"""The pgAdmin stand-in (.ci/airgap/pgadmin) stays a stand-in for the image compose pins.

Its behaviour is tested by running it (tests/smoke/test_pgadmin.py); here, what can
drift without anyone running it: the version, and the variables compose hands it.
"""

from __future__ import annotations

import re

from tests.support.compose_files import ROOT, resolved

AIRGAP_SCRIPT = ROOT / ".ci" / "airgap-images.sh"
ENTRYPOINT = ROOT / ".ci" / "airgap" / "pgadmin" / "entrypoint.sh"


def _stand_in() -> tuple[str, str, str]:
    """(tag, package, variable) of the pgadmin row of the script's IMAGES table."""
    [row] = re.findall(
        r'^\s*"pgadmin\|([^|"]+)\|([^|"]+)\|([^|"]+)"', AIRGAP_SCRIPT.read_text(), re.M
    )
    return row


def test_the_stand_in_has_the_version_compose_pins():
    tag, package, variable = _stand_in()
    assert (package, variable) == ("pip:pgadmin4", "PGADMIN_IMAGE")
    image = resolved(("docker-compose.yml",))["services"]["pgadmin"]["image"]
    name, _, upstream_tag = image.partition(":")
    assert name == "dpage/pgadmin4"
    assert tag == upstream_tag, f"stand-in pgadmin4=={tag}, compose pins {image}"


def _entrypoint_code() -> str:
    """entrypoint.sh without its comment lines (which name every variable too)."""
    lines = ENTRYPOINT.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def test_the_entrypoint_reads_every_variable_compose_sets():
    script = _entrypoint_code()
    environment = resolved(("docker-compose.yml",))["services"]["pgadmin"]["environment"]
    # PGADMIN_CONFIG_* are passed on as a whole to config_distro.py.
    assert "grep '^PGADMIN_CONFIG_'" in script
    named = [key for key in environment if not key.startswith("PGADMIN_CONFIG_")]
    assert named, environment
    missing = [key for key in named if not re.search(rf"\b{key}\b", script)]
    assert not missing, f"entrypoint.sh ignores {missing}"


def test_the_healthcheck_asks_the_port_the_stand_in_listens_on():
    service = resolved(("docker-compose.yml",))["services"]["pgadmin"]
    assert "${PGADMIN_LISTEN_PORT:-80}" in _entrypoint_code()
    assert "PGADMIN_LISTEN_PORT" not in service["environment"]
    assert [p["target"] for p in service["ports"]] == [80]
    assert "http://127.0.0.1:80/misc/ping" in service["healthcheck"]["test"]
