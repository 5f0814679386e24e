"""The Rune SDK against FakeRune over real sockets, on both wires, decoding strictly.

`StrictRune` decodes with the strict converter: a key the fake sends that
`openapi/rune.yaml` lacks fails. The seed's deploy flow runs on Connect and on REST; then
watch streams (ADDED replay, live changes, an error end), SSE logs, async deletion, typed
errors and secrets kept out of output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import ClassVar

import cattrs
import pytest

from controldeck._core._convert import strict_converter
from controldeck.errors import (
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    StreamError,
)
from controldeck.rune import RuneClient, Service, ServicePort, Transport
from controldeck.testing.rune import FakeRune


class StrictRune(RuneClient):
    _converter: ClassVar[cattrs.Converter | None] = strict_converter


@pytest.fixture
def fake() -> Iterator[FakeRune]:
    with FakeRune(deletion_polls=1) as server:
        yield server


def client(fake: FakeRune, transport: Transport) -> StrictRune:
    return StrictRune(fake.url, token=fake.seed_token, transport=transport, max_retries=0)


@pytest.mark.parametrize("transport", ["connect", "rest"])
def test_the_deploy_flow(fake: FakeRune, transport: Transport) -> None:
    with StrictRune(fake.url, transport=transport) as rune:
        boot = rune.admin_bootstrap()
        rune.set_token(boot.token_secret)
        assert rune.whoami().subject_name == "root"
        namespace = rune.create_namespace("shop", description="web shop", labels={"t": "1"})
        assert namespace.name == "shop" and isinstance(namespace.created_at, int)
        assert [n.name for n in rune.list_namespaces()].count("shop") == 1
        created = rune.create_service(
            Service(
                name="api",
                namespace="shop",
                image="nginx:1.27",
                scale=1,
                ports=[ServicePort(name="http", port=80, target_port=8080)],
            )
        )
        assert (created.name, created.namespace, created.image) == ("api", "shop", "nginx:1.27")
        assert rune.get_service("api", "shop").ports[0].target_port == 8080  # type: ignore[index,union-attr]
        rune.scale_service("api", 2, namespace="shop")
        running = rune.wait_for_scale("api", 2, namespace="shop", poll_interval=0.01)
        assert len(running) == 2
        instance = running[0]
        assert rune.get_instance(instance.id, "shop").id == instance.id
        assert {i.id for i in rune.list_instances("shop", service_name="api")} >= {instance.id}
        secret = rune.create_secret("db", {"password": "hunter2"}, namespace="shop")
        assert "hunter2" not in repr(secret)
        assert rune.update_secret("db", {"password": "n3w"}, namespace="shop").version == 2
        assert [s.name for s in rune.list_secrets("shop")] == ["db"]
        rune.create_configmap("web", {"LEVEL": "info"}, namespace="shop")
        assert rune.get_configmap("web", "shop").data == {"LEVEL": "info"}
        minted = rune.create_token("ci", subject_name="ci-bot", policies=["readonly"])
        assert minted.id in {t.id for t in rune.list_tokens()}
        assert rune.revoke_token(minted.id) is True
        deletion = rune.delete_service("api", namespace="shop")
        final = rune.wait_for_deletion(deletion.deletion_id, "shop", poll_interval=0.01)
        assert final.status == "completed"
        with pytest.raises(NotFoundError):
            rune.get_service("api", "shop")


def test_watch_replays_then_follows_changes(fake: FakeRune) -> None:
    with client(fake, "connect") as rune:
        rune.create_service(Service(name="a", image="nginx", scale=0))
        seen: list[tuple[str, str]] = []
        with rune.watch_services("default") as watch:
            for update in watch:
                assert update.service is not None
                seen.append((str(update.event_type), update.service.name))
                if len(seen) == 1:
                    threading.Thread(
                        target=lambda: client(fake, "connect").create_service(
                            Service(name="b", image="nginx", scale=0)
                        )
                    ).start()
                if update.service.name == "b":
                    break
        assert seen[0] == ("EVENT_TYPE_ADDED", "a")
        assert seen[-1][1] == "b"


def test_watch_scaling_ends_when_complete(fake: FakeRune) -> None:
    with client(fake, "connect") as rune:
        rune.create_service(Service(name="s", image="nginx", scale=0))
        rune.scale_service("s", 2)
        with rune.watch_scaling("s", 2) as progress:
            last = list(progress)[-1]
        assert last.complete is True and last.target_scale == 2


def test_watch_is_connect_only(fake: FakeRune) -> None:
    with client(fake, "rest") as rune, pytest.raises(InvalidArgumentError, match="Connect"):
        rune.watch_services()


def test_logs_over_rest_end_at_eof(fake: FakeRune) -> None:
    with client(fake, "rest") as rune:
        rune.create_service(Service(name="web", image="nginx", scale=1))
        rune.wait_for_scale("web", 1, poll_interval=0.01)
        with rune.logs("web", follow=True, tail=2) as lines:
            got = [line.content for line in lines]
        assert 0 < len(got) <= 2
    with client(fake, "connect") as rune, pytest.raises(InvalidArgumentError, match="grpc"):
        rune.logs("web")


@pytest.mark.parametrize("transport", ["connect", "rest"])
def test_typed_errors(fake: FakeRune, transport: Transport) -> None:
    with StrictRune(fake.url, token="not-a-token", transport=transport) as stranger:
        with pytest.raises(AuthenticationError) as info:
            stranger.list_services()
        assert info.value.code == "unauthenticated"
    with client(fake, transport) as rune:
        reader = rune.create_token("reader", subject_name="reader", policies=["readonly"])
        with StrictRune(fake.url, token=reader.secret, transport=transport) as readonly:
            assert readonly.list_services() == []
            with pytest.raises(PermissionDeniedError):
                readonly.create_secret("x", {"k": "v"})
        with pytest.raises(NotFoundError) as missing:
            rune.get_namespace("nope")
        assert missing.value.code == "not_found"


def test_secret_values_stay_out_of_logs(fake: FakeRune, caplog: pytest.LogCaptureFixture) -> None:
    with client(fake, "connect") as rune, caplog.at_level(logging.DEBUG, logger="controldeck"):
        rune.create_secret("api-key", {"key": "sk-very-secret-value"})
        fetched = rune.get_secret("api-key")
    assert fetched.data == {"key": "sk-very-secret-value"}
    assert "sk-very-secret-value" not in caplog.text
    assert "sk-very-secret-value" not in repr(fetched)


def test_a_watch_error_end_raises_with_the_code(fake: FakeRune) -> None:
    with client(fake, "connect") as rune:
        fake.fail_watch = ("permission_denied", "watch not allowed")
        with pytest.raises(StreamError) as info, rune.watch_namespaces() as watch:
            list(watch)
        assert info.value.code == "permission_denied"
        assert "watch not allowed" in str(info.value)
