"""Fixtures for the gRPC transport: FakeRune serving gRPC on 127.0.0.1, and a client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controldeck.rune import RuneClient
from controldeck.testing.rune import FakeRune


@pytest.fixture
def grpc_fake() -> Iterator[FakeRune]:
    """A started FakeRune answering gRPC too; instances run at once (`start_polls=0`)."""
    with FakeRune(grpc=True, start_polls=0, deletion_polls=0) as fake:
        yield fake


@pytest.fixture
def grpc_client(grpc_fake: FakeRune) -> Iterator[RuneClient]:
    """A `RuneClient(transport="grpc")` on the fake, with the fake's root token."""
    with RuneClient(
        grpc_fake.url,
        token=grpc_fake.seed_token,
        transport="grpc",
        grpc_target=grpc_fake.grpc_target,
        timeout=(2, 5),
        max_retries=0,
    ) as client:
        yield client
