"""A Harmony-style gateway loop against the local FakeRunbeam: no network needed.

1. A user signs in (here: the fake mints a JWT) and the gateway validates it against JWKS.
2. The gateway trades the user token for a machine token and stores it encrypted.
3. It polls its changes and, oldest first, acknowledges each, applies it (parses the TOML)
   and reports applied or failed: the pending -> acknowledged -> applied/failed lifecycle.
4. It pushes a config back, asks for a mesh token and resolves a resource reference.

Run: `make demo`, or `.venv/bin/python examples/runbeam_gateway_loop.py`.
"""

from __future__ import annotations

import tempfile
import tomllib

from controldeck.runbeam import (
    ChangeStatus,
    MachineToken,
    RunbeamClient,
    load_machine_token,
    save_machine_token,
    transform_instructions,
    validate_jwt_token,
)
from controldeck.testing.runbeam import FakeRunbeam

GATEWAY_CODE = "my-gateway"


def main() -> None:
    with FakeRunbeam() as fake, tempfile.TemporaryDirectory() as state_dir:
        # A change whose TOML is broken, so the loop shows the failure path too.
        fake.add_change("gateway-123", "pipeline", "[pipeline\nname = 'broken'")

        user_jwt = fake.mint_user_token(sub="user123")
        claims = validate_jwt_token(user_jwt, trusted_issuers=[fake.url])
        print(f"user JWT valid: sub={claims.sub} team={claims.team.name if claims.team else '-'}")

        # A bare origin gets /api appended: the client talks to <origin>/api.
        with RunbeamClient(fake.url) as cloud:
            auth = cloud.authorize_gateway(user_jwt, GATEWAY_CODE, metadata=["version:1.0"])
        print(f"authorized {auth.gateway.code} ({auth.gateway.id}), abilities {auth.abilities}")
        print(f"  the reply's repr keeps the secret out: {auth!r:.80}...")

        save_machine_token(GATEWAY_CODE, MachineToken.from_authorize(auth), base_dir=state_dir)
        token = load_machine_token(GATEWAY_CODE, base_dir=state_dir)
        assert token is not None and token.is_valid()
        print(f"machine token saved age-encrypted and reloaded: {token!r}")

        with RunbeamClient(fake.api_url, token=token.machine_token) as gateway:
            applied = failed = 0
            # The list is newest first and may shift between pages: keep each id once, then
            # apply the oldest first, as Harmony does.
            pending = dict.fromkeys(
                item.id
                for item in gateway.list_changes_for_gateway(token.gateway_id)
                if item.status == ChangeStatus.PENDING
            )
            for change_id in reversed(pending):
                change = gateway.get_change(change_id)
                if change_id not in gateway.acknowledge_changes([change_id]).acknowledged:
                    continue  # no longer pending
                try:
                    config = tomllib.loads(change.toml_config or "")
                except tomllib.TOMLDecodeError as exc:
                    gateway.mark_change_failed(
                        change_id, "Configuration parse error", details=[str(exc)]
                    )
                    failed += 1
                    print(f"  {change_id} {change.type:<9} failed: {exc}")
                    continue
                gateway.mark_change_applied(change_id)
                applied += 1
                print(f"  {change_id} {change.type:<9} applied: tables {sorted(config)}")
            print(f"changes: {applied} applied, {failed} failed")

            result = gateway.store_config("gateway", '[proxy]\nid = "edge-1"\n')
            print(f"pushed config: {result.data.action} {result.data.type} {result.data.id}")

            transform = gateway.get_transform("transform-123")
            ops = transform_instructions(transform) or []
            print(f"transform {transform.code}: {[op['operation'] for op in ops]}")

            mesh = gateway.request_mesh_token(
                "01HXYZ123456789ABCDEF", "https://partner.example.com/fhir/r4/Patient"
            )
            print(f"mesh token for {mesh.mesh_id}, expires {mesh.expires_at:%H:%M:%S}")

            found = gateway.resolve_reference("runbeam.acme.ingress.name.patient_api")
            print(f"resolved {found.data.type} {found.data.name}: {found.data.urls}")


if __name__ == "__main__":
    main()
