"""What every group of Rune methods shares: one RPC call over either transport, watch
streams, namespaces and path segments.

`RuneClient` is one flat class (reference §9 method names) assembled from mixins
(`_services.py`, `_resources.py`, `_admin.py`), each a subclass of `RuneBase`. A method
builds the request model once and names both wires:

    return self._rpc(
        "ServiceService", "GetService",
        models.GetServiceRequest(name=name, namespace=ns),
        models.ServiceResponse,
        rest=Rest("GET", f"/v1/namespaces/{seg(ns)}/services/{seg(name)}"),
        read=True,
        **options,
    )

Connect POSTs the request as protojson to `{prefix}/rune.api.<Service>/<Method>`; REST
sends `rest.method` to `rest.path` with `rest.query` as the query string and, when
`rest.body`, the request message as the JSON body; gRPC (`_grpc.py`) turns the same
protojson into the protobuf message, calls `/rune.api.<Service>/<Method>` on runed's gRPC
port and hands the reply back as protojson, so all three decode through one model.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar, Unpack

import attrs

from controldeck._core._bodies import ContentBody
from controldeck._core._client import BaseClient
from controldeck._core._models import Unset
from controldeck._core._options import NOT_GIVEN, CallOptions
from controldeck._core._streams import Stream, envelope_stream
from controldeck._core._transport import check_deadline
from controldeck._core._validate import path_segment, require_str
from controldeck.errors import InvalidArgumentError, ResponseValidationError
from controldeck.rune._errors import raise_stream_end
from controldeck.rune._grpc import GrpcWire

__all__ = [
    "DEFAULT_NAMESPACE",
    "Rest",
    "RuneBase",
    "Transport",
    "namespace_of",
    "reply_part",
    "seg",
]

T = TypeVar("T")

Transport = Literal["connect", "rest", "grpc"]

DEFAULT_NAMESPACE = "default"
"""The namespace an empty one means on the server (service.go `DefaultNamespace`)."""

PACKAGE = "rune.api"
CONNECT_JSON = "application/connect+json"


@attrs.frozen
class Rest:
    """How an RPC maps onto the seed's REST gateway.

    Attributes:
        method: The HTTP method.
        path: The path, segments already encoded (`seg()`).
        query: Query parameters by their camelCase JSON names; None values are left out,
            bools sent as `true`/`false`, enums as their names.
        body: Send the request message as the JSON body (POST/PUT routes).
    """

    method: str
    path: str
    query: Mapping[str, Any] | None = None
    body: bool = False


def reply_part(value: T | Unset | None, rpc: str, field: str) -> T:
    """The object a reply envelope promised (`ServiceResponse.service`...); protojson sends
    `null` for none, which is not what runed sends on success: a malformed reply."""
    if value is None or isinstance(value, Unset):
        raise ResponseValidationError(
            f"the {rpc} reply has no {field!r}",
            path=f"$.{field}",
            problems=[f"missing @ $.{field}"],
        )
    return value


def seg(value: str) -> str:
    """One path segment, percent-encoded (names were validated by the method)."""
    return path_segment("name", value)


def namespace_of(namespace: Any) -> str:
    """A namespace argument: a non-empty string (the methods default it to `default`)."""
    return require_str("namespace", namespace)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return value.value
    return value


class RuneBase(BaseClient):
    """The base of the Rune mixins and of `RuneClient`."""

    _platform = "rune"
    transport: Transport = "connect"
    connect_prefix: str = "/grpc"
    _grpc: GrpcWire | None = None

    @property
    def _wire(self) -> GrpcWire:
        """The gRPC wire (transport="grpc" only)."""
        if self._grpc is None:
            raise InvalidArgumentError("this call needs RuneClient(..., transport='grpc')")
        return self._grpc

    def _rpc(
        self,
        service: str,
        method: str,
        request: Any,
        cast_to: type[T],
        *,
        rest: Rest,
        read: bool = False,
        auth: bool = True,
        secrets: Iterable[str] = (),
        **options: Unpack[CallOptions],
    ) -> T:
        """Call one unary RPC over the client's transport and decode its reply.

        Args:
            service: The service name without the package (`ServiceService`).
            method: The RPC name (`GetService`).
            request: The request model (None sends `{}`).
            cast_to: The response model.
            rest: The same call on the REST gateway.
            read: The RPC only reads, so it is retried like a GET on either transport.
            auth: False for the one public RPC (`AdminBootstrap`).
            secrets: Strings to mask for this call (secret values being sent).
        """
        if self._grpc is not None:
            data = self._transport.converter.unstructure(request) if request is not None else {}
            reply = self._grpc.unary(
                service, method, data, read=read, auth=auth, secrets=secrets, **options
            )
            return self._structure(reply, cast_to)
        if self.transport == "connect":
            headers = {
                "Connect-Protocol-Version": "1",
                "Connect-Timeout-Ms": self._timeout_ms(options),
                **(options.get("extra_headers") or {}),
            }
            call_options: CallOptions = {**options, "extra_headers": headers}
            return self._call(
                "POST",
                f"{self.connect_prefix}/{PACKAGE}.{service}/{method}",
                cast_to,
                json=request if request is not None else {},
                auth=auth,
                idempotent=read,
                secrets=secrets,
                **call_options,
            )
        query = {k: _query_value(v) for k, v in (rest.query or {}).items() if v is not None}
        return self._call(
            rest.method,
            rest.path,
            cast_to,
            params=query or None,
            json=(request if request is not None else {}) if rest.body else NOT_GIVEN,
            auth=auth,
            idempotent=read,
            secrets=secrets,
            **options,
        )

    def _watch(
        self,
        service: str,
        method: str,
        request: Any,
        item: type[T],
        *,
        terminal: Callable[[T], bool] | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[T]:
        """Open a Connect server stream (a `Watch*` RPC) as a `Stream` of `item`.

        The request is one envelope (flag 0, 4-byte big-endian length, protojson); the
        reply's envelopes are decoded as they arrive, and an end-of-stream error raises
        `StreamError` with the mapped `.code`. The stream has no idle limit. `terminal`
        marks the last item wanted (WatchScaling's `complete`): it is yielded, then the
        stream closes without waiting for the server's end-of-stream.

        Over gRPC the same RPC is a gRPC server stream, decoded from the same protojson.

        Raises:
            InvalidArgumentError: The client uses the REST transport (no watch routes).
        """
        if self._grpc is not None:
            return self._grpc_watch(service, method, request, item, terminal=terminal, **options)
        if self.transport != "connect":
            raise InvalidArgumentError(
                f"{method} is a Connect server stream: the REST gateway has no watch routes; "
                "use RuneClient(..., transport='connect')"
            )
        data = self._transport.converter.unstructure(request) if request is not None else {}
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        envelope = b"\x00" + len(payload).to_bytes(4, "big") + payload
        path = f"{self.connect_prefix}/{PACKAGE}.{service}/{method}"
        extra = {
            "Connect-Protocol-Version": "1",
            "Accept": CONNECT_JSON,
            **options.pop("extra_headers", {}),
        }

        def opener(headers: Mapping[str, str]) -> Any:
            return self._transport.send(
                "POST",
                path,
                body=ContentBody(envelope, CONNECT_JSON),
                stream=True,
                stream_idle=None,
                extra_headers={**extra, **headers},
                **options,
            )

        return envelope_stream(
            opener,
            lambda message: self._structure(message, item),
            terminal=terminal,
            on_end=raise_stream_end,
            secrets=self._transport.auth.secrets(),
        )

    def _grpc_watch(
        self,
        service: str,
        method: str,
        request: Any,
        item: type[T],
        *,
        terminal: Callable[[T], bool] | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[T]:
        """A `Watch*` RPC as a gRPC server stream: no deadline unless `deadline=` is given;
        closing the stream cancels the call."""
        wire = self._wire
        rpc = f"{service}/{method}"
        data = self._transport.converter.unstructure(request) if request is not None else {}
        message = wire.message(wire.request_name(service, method), data)
        metadata = wire.metadata(options.get("extra_headers"))
        deadline = check_deadline(options["deadline"]) if "deadline" in options else wire.deadline
        try:
            call = getattr(wire.stub(service), method)(message, metadata=metadata, timeout=deadline)
        except Exception as exc:
            raise wire.error(exc, rpc, timeout=deadline) from None
        closed = False

        def items() -> Iterator[T]:
            try:
                for reply in call:
                    yield self._structure(wire.to_json(reply), item)
            except Exception as exc:
                if closed:
                    return
                raise wire.error(exc, rpc, timeout=deadline) from None

        def close() -> None:
            nonlocal closed
            closed = True
            call.cancel()

        return Stream(items(), close=close, terminal=terminal)

    def _timeout_ms(self, options: CallOptions) -> str:
        """`Connect-Timeout-Ms`: the call's read timeout (or deadline, if shorter)."""
        timeout = options.get("timeout", self._transport.timeout)
        seconds = float(timeout[1] if isinstance(timeout, tuple) else timeout)
        deadline = options.get("deadline", self._transport.deadline)
        if deadline is not None and deadline < seconds:
            seconds = deadline
        if not math.isfinite(seconds) or seconds <= 0:
            raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}")
        return str(max(1, min(int(seconds * 1000), 9_999_999_999)))
