"""FakeRunbeam without the `runbeam` extra: a fresh interpreter where PyJWT, cryptography
and pyrage cannot be imported, as after a plain `pip install controldeck`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = """
import sys

class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"jwt", "cryptography", "pyrage"}:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, _Blocked())
"""

SCRIPT = """
import tempfile

from controldeck.errors import InternalServerError, MissingDependencyError
from controldeck.runbeam import RunbeamClient, save_token, validate_jwt_token
from controldeck.testing.runbeam import FakeRunbeam

with FakeRunbeam() as fake:
    with RunbeamClient(fake.url, token=fake.user_token, max_retries=0) as cloud:
        auth = cloud.authorize_gateway(fake.user_token, "my-gateway")
        print("gateway", cloud.get_gateway("my-gateway").id)
    with RunbeamClient(fake.url, token=auth.machine_token, max_retries=0) as gw:
        changes = list(gw.list_changes_for_gateway(auth.gateway.id))
        oldest = changes[-1].id
        print("ack", gw.acknowledge_changes([oldest]).acknowledged == [oldest])
        print("applied", gw.mark_change_applied(oldest).message)
        try:
            gw.request_mesh_token("01HXYZ123456789ABCDEF", "https://partner.example.com/fhir")
        except InternalServerError as exc:
            print("mesh", exc.status_code, exc.code)
    print("jwks", fake.jwks())
    with tempfile.TemporaryDirectory() as state:
        attempts = [
            fake.mint_user_token,
            fake.rotate_key,
            lambda: validate_jwt_token("a.b.c", trusted_issuers=[fake.url]),
            lambda: save_token("gw", "auth", "x", base_dir=state),
        ]
        for attempt in attempts:
            try:
                attempt()
            except MissingDependencyError as exc:
                print("missing", exc.name, exc.extra)

print("loaded", sorted({"jwt", "cryptography", "pyrage"} & set(sys.modules)))
"""


def test_fake_and_client_work_without_the_extra() -> None:
    code = BLOCKER + textwrap.dedent(SCRIPT)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "gateway gateway-123",
        "ack True",
        "applied Change marked as applied",
        "mesh 500 Token signing failed",
        "jwks {'keys': []}",
        "missing PyJWT runbeam",
        "missing PyJWT runbeam",
        "missing PyJWT runbeam",
        "missing pyrage runbeam",
        "loaded []",
    ]
