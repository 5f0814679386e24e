"""Deploy a service on Rune, against the local FakeRune, once per transport: no network needed.

1. Bootstrap an admin token (`AdminBootstrap`, the one call without a token) and use it.
2. Create a namespace and a service, scale it to 3 and wait for 3 running instances.
3. Connect: watch the namespace's services (current ones arrive as ADDED first).
   REST: read the service's logs as Server-Sent Events.
4. Delete the service and wait for the asynchronous deletion to finish.

Current runed builds serve Connect (`POST /grpc/rune.api.<Service>/<Method>`); the REST
gateway (`/v1/namespaces/...`) is the one the Rune docs describe. One `RuneClient` API
speaks both.

Run: `make demo`, or `.venv/bin/python examples/rune_deploy.py`.
"""

from __future__ import annotations

from controldeck.rune import RuneClient, Service, ServicePort, Transport
from controldeck.testing.rune import FakeRune


def deploy(transport: Transport) -> None:
    print(f"-- transport={transport}")
    with FakeRune(seed=False) as fake, RuneClient(fake.url, transport=transport) as rune:
        boot = rune.admin_bootstrap()
        rune.set_token(boot.token_secret)
        print(f"bootstrapped token {boot.token_id} for {rune.whoami().subject_name}")

        rune.create_namespace("shop", description="the web shop")
        service = rune.create_service(
            Service(
                name="api",
                namespace="shop",
                image="nginx:1.27",
                scale=1,
                ports=[ServicePort(name="http", port=80, target_port=8080)],
            )
        )
        print(f"created {service.namespace}/{service.name} ({service.image})")
        rune.scale_service("api", 3, namespace="shop")
        running = rune.wait_for_scale("api", 3, namespace="shop", poll_interval=0.05)
        print(f"running instances: {sorted(i.name for i in running)}")

        if transport == "connect":
            with rune.watch_services("shop") as events:
                for event in events:
                    print(f"watch: {event.event_type} {event.service and event.service.name}")
                    break  # the current services arrive first, as ADDED
        else:
            with rune.logs("api", namespace="shop", tail=3) as lines:
                for line in lines:
                    print(f"log {line.instance_name}: {line.content}")

        deletion = rune.delete_service("api", namespace="shop")
        final = rune.wait_for_deletion(deletion.deletion_id, "shop", poll_interval=0.05)
        print(f"deletion {final.status}: {final.deleted_instances}/{final.total_instances}")


def main() -> None:
    for transport in ("connect", "rest"):
        deploy(transport)


if __name__ == "__main__":
    main()
