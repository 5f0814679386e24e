"""The gRPC wire of `RuneClient(transport="grpc")`: runed's primary port (:7863).

One `GrpcWire` per client holds the channel (made on first use, shared by threads), the
bearer metadata, the protobuf <-> protojson conversion and the mapping of gRPC status codes
to the controldeck errors the other wires raise. grpcio and protobuf come from the `grpc`
extra and are imported on first use: `import controldeck.rune` never loads them, and a
client built without the extra raises `MissingDependencyError` naming the pip line.

Messages cross into the facade as protojson dicts (`MessageToDict` with unpopulated fields
printed: camelCase keys, int64 as strings, enums as names), the form Connect replies have,
so every facade method decodes a gRPC reply with the same attrs models and the same code.
grpc and protobuf are untyped: their objects are `Any` here and nowhere else.

Error mapping (reference §4; `.status_code` is the HTTP status the same code has on Connect):

| gRPC status | error |
|---|---|
| UNAVAILABLE, the connection failed | `APIConnectionError` ("could not connect to …") |
| DEADLINE_EXCEEDED | `APITimeoutError` (the call's own deadline ran out) |
| CANCELLED | `APIStatusError` (code `canceled`, 499) |
| any other code | `ERROR_CLASSES[code]` (`NotFoundError`, `AuthenticationError`…) |

Unary calls are retried on UNAVAILABLE (reads always; writes only when the connection could
not be made, so nothing reached the server), with the engine's backoff, within `deadline`.
Streams are never retried.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Unpack

from controldeck._core._auth import BearerAuth
from controldeck._core._logging import logger
from controldeck._core._options import CallOptions, Timeout
from controldeck._core._redact import excerpt, redact_text
from controldeck._core._retry import Budget, backoff_delay
from controldeck._core._transport import check_deadline, check_max_retries, check_timeout
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
    MissingDependencyError,
)
from controldeck.rune._errors import ERROR_CLASSES, HTTP_STATUS

__all__ = [
    "DEFAULT_GRPC_TARGET",
    "TLS",
    "GrpcWire",
    "check_grpc_target",
    "grpc_code",
    "grpc_details",
    "require_grpc",
]

DEFAULT_GRPC_TARGET = "localhost:7863"
PACKAGE = "rune.api"
TLS = bool | bytes | str | os.PathLike[str]
"""`tls=`: False (plaintext, runed's default), True (TLS, system roots), or a CA bundle (PEM
bytes, or the path of a PEM file)."""

_MODULES = (
    "common", "namespace", "service", "instance", "logs", "exec", "health", "secret",
    "configmap", "auth", "admin",
)  # fmt: skip
_GENERATED = "controldeck._generated.rune_grpc"
_CONNECT_FAILED = (
    "failed to connect",
    "connection refused",
    "connections to all backends failing",
    "dns resolution failed",
    "name resolution",
    "no address",
)
_MAX_MESSAGE = 16 * 1024 * 1024


def require_grpc(feature: str) -> None:
    """Raise `MissingDependencyError` unless grpcio and protobuf can be imported (checked
    without importing them).

    Example:
        >>> require_grpc("RuneClient(transport='grpc')")
    """
    for module, package in (("grpc", "grpcio"), ("google.protobuf", "protobuf")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingDependencyError(feature, "grpc", package)


def check_grpc_target(value: Any) -> str:
    """A gRPC target: `host:port` (or any target grpc takes: `dns:///host:port`,
    `unix:/path`), without a scheme like `http://`.

    Example:
        >>> check_grpc_target("runed.internal:7863")
        'runed.internal:7863'
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"grpc_target must be 'host:port', got {value!r}")
    target = value.strip()
    if target.startswith(("http://", "https://")) or any(c.isspace() for c in target):
        raise InvalidArgumentError(
            f"grpc_target must be 'host:port' (like 'localhost:7863'), not a URL: "
            f"{target[:100]!r}; pass tls=True for TLS"
        )
    return target


def _root_certificates(tls: Any) -> bytes | None:
    """The CA bundle of `tls=` (None: the system roots)."""
    if tls is True:
        return None
    if isinstance(tls, bytes):
        if b"-----BEGIN" not in tls:
            raise InvalidArgumentError("tls= bytes must be a PEM CA bundle (-----BEGIN ...)")
        return tls
    if isinstance(tls, str | os.PathLike):
        path = Path(tls)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidArgumentError(
                f"tls= names a CA bundle that cannot be read: {path} ({exc.strerror})"
            ) from None
        if b"-----BEGIN" not in data:
            raise InvalidArgumentError(f"tls= file {path} is not a PEM CA bundle")
        return data
    raise InvalidArgumentError(
        f"tls must be True, False, PEM bytes or the path of a PEM file, got {type(tls).__name__}"
    )


class GrpcWire:
    """The gRPC side of one `RuneClient`: channel, stubs, metadata, conversion, errors.

    Args:
        target: `host:port` of runed's gRPC listener.
        tls: See `TLS`.
        auth: The client's bearer auth (the token may change at any time).
        user_agent: Sent as the channel's primary user agent.
        timeout: The client's `(connect, read)` seconds; the read part bounds each attempt.
        deadline: The client's overall budget per call, or None.
        max_retries: The client's retries for unary calls.

    Example:
        >>> wire = GrpcWire("localhost:7863", tls=False, auth=BearerAuth("t"), user_agent="x",
        ...                 timeout=(5, 60), deadline=None, max_retries=2)
        >>> wire.to_json(wire.message("GetServiceRequest", {"name": "api"}))
        {'name': 'api', 'namespace': ''}
    """

    def __init__(
        self,
        target: str,
        *,
        tls: TLS,
        auth: BearerAuth,
        user_agent: str,
        timeout: Timeout,
        deadline: float | None,
        max_retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = check_grpc_target(target)
        if tls is False:
            self._roots: bytes | None = None
        else:
            self._roots = _root_certificates(tls)
        self.tls = tls is not False
        self.auth = auth
        self.user_agent = user_agent
        self.timeout = check_timeout(timeout)
        self.deadline = check_deadline(deadline)
        self.max_retries = check_max_retries(max_retries)
        self.sleep = sleep
        self._lock = threading.Lock()
        self._channel: Any = None
        self._closed = False
        self._stubs: dict[str, Any] = {}
        self._unary: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"GrpcWire(target={self.target!r}, tls={self.tls})"

    # -- the channel ----------------------------------------------------------------------

    @property
    def channel(self) -> Any:
        """The `grpc.Channel`, made on first use."""
        with self._lock:
            if self._closed:
                raise InvalidArgumentError("this RuneClient is closed; make a new one")
            if self._channel is None:
                grpc = _grpc()
                _pb2()  # every rune.api descriptor in the pool before the first call
                options = [
                    ("grpc.primary_user_agent", self.user_agent),
                    ("grpc.max_receive_message_length", _MAX_MESSAGE),
                    ("grpc.enable_retries", 0),  # retries are ours, bounded by deadline=
                ]
                if self.tls:
                    credentials = grpc.ssl_channel_credentials(root_certificates=self._roots)
                    self._channel = grpc.secure_channel(self.target, credentials, options)
                else:
                    self._channel = grpc.insecure_channel(self.target, options)
            return self._channel

    def stub(self, service: str) -> Any:
        """The generated stub of a `rune.api` service on the shared channel.

        Example:
            >>> call = wire.stub("LogService").StreamLogs(iter(requests), metadata=wire.metadata())
        """
        stub = self._stubs.get(service)
        if stub is None:
            module = _module(_SERVICE_MODULES.get(service, ""), grpc=True, service=service)
            stub = getattr(module, f"{service}Stub")(self.channel)
            self._stubs[service] = stub
        return stub

    def close(self) -> None:
        """Close the channel (open streams end with CANCELLED). Safe to call twice."""
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
            self._stubs.clear()
            self._unary.clear()
        if channel is not None:
            channel.close()

    # -- messages -------------------------------------------------------------------------

    def message(self, name: str, data: Mapping[str, Any] | None = None) -> Any:
        """A `rune.api.<name>` message from its protojson form (camelCase or proto names).

        Raises:
            InvalidArgumentError: `data` does not fit the message (nothing is sent).
        """
        cls = _message_class(name)
        from google.protobuf import json_format

        try:
            return json_format.ParseDict(dict(data or {}), cls(), ignore_unknown_fields=True)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"cannot encode {name}: {excerpt(str(exc), 300)}") from None

    @staticmethod
    def to_json(message: Any) -> dict[str, Any]:
        """A message's protojson dict as runed's Connect codec writes it (`EmitUnpopulated`):
        camelCase keys, every scalar, list and map printed, and an unset sub-message as
        `null` — so a model decoded from gRPC is equal to one decoded from Connect
        (`service.resources is None` on both)."""
        from google.protobuf import json_format

        data: dict[str, Any] = json_format.MessageToDict(
            message, always_print_fields_with_no_presence=True
        )
        _fill_nulls(message, data)
        return data

    def metadata(self, extra: Mapping[str, str] | None = None, *, auth: bool = True) -> Any:
        """The call's metadata: `authorization: Bearer …` and any extra headers
        (lower-cased, as gRPC requires).

        Raises:
            InvalidArgumentError: The call needs a token and the client has none.
        """
        pairs: list[tuple[str, str]] = []
        if auth:
            pairs.extend((k.lower(), v) for k, v in self.auth.auth_headers().items())
        for key, value in (extra or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidArgumentError("extra_headers must map str to str")
            pairs.append((key.lower(), value))
        return tuple(pairs)

    def secrets(self, extra: Iterable[str] = ()) -> tuple[str, ...]:
        """Every string to mask now: the live token and the call's own secrets."""
        return (*self.auth.secrets(), *(s for s in extra if s))

    # -- unary calls ----------------------------------------------------------------------

    def unary(
        self,
        service: str,
        method: str,
        request: Mapping[str, Any] | None,
        *,
        read: bool,
        auth: bool = True,
        secrets: Iterable[str] = (),
        **options: Unpack[CallOptions],
    ) -> dict[str, Any]:
        """Call a unary RPC with retries; return the reply's protojson dict.

        Args:
            service: The service without the package (`ServiceService`).
            method: The RPC (`GetService`).
            request: The request's protojson dict.
            read: The RPC only reads: UNAVAILABLE is retried whatever happened.
            auth: False for the one public RPC (AdminBootstrap).
            secrets: Strings to mask in errors (secret values being sent).
        """
        rpc = f"{service}/{method}"
        timeout = check_timeout(options["timeout"]) if "timeout" in options else self.timeout
        deadline = check_deadline(options["deadline"]) if "deadline" in options else self.deadline
        retries_allowed = (
            check_max_retries(options["max_retries"])
            if "max_retries" in options
            else self.max_retries
        )
        metadata = self.metadata(options.get("extra_headers"), auth=auth)
        call, request_name = self._unary_callable(service, method)
        message = self.message(request_name, request)
        budget = Budget(deadline)
        retries = 0
        while True:
            seconds = _attempt_seconds(timeout, budget)
            try:
                reply = call(message, metadata=metadata, timeout=seconds, wait_for_ready=False)
            except Exception as exc:
                connect_failed = _connect_failed(exc)
                retryable = grpc_code(exc) == "UNAVAILABLE" and (read or connect_failed)
                delay = backoff_delay(retries)
                if retryable and retries < retries_allowed and budget.allows_wait(delay):
                    logger.info(
                        "retrying gRPC %s in %.2fs after UNAVAILABLE (retry %d of %d)",
                        rpc,
                        delay,
                        retries + 1,
                        retries_allowed,
                    )
                    self.sleep(delay)
                    retries += 1
                    continue
                raise self.error(
                    exc, rpc, timeout=seconds, attempts=retries + 1, secrets=secrets
                ) from None
            return self.to_json(reply)

    @staticmethod
    def request_name(service: str, method: str) -> str:
        """The request message of an RPC (`WatchScaling` -> `WatchScalingRequest`)."""
        name: str = _method_descriptor(service, method).input_type.name
        return name

    def _unary_callable(self, service: str, method: str) -> tuple[Any, str]:
        key = f"{service}/{method}"
        found = self._unary.get(key)
        if found is None:
            descriptor = _method_descriptor(service, method)
            output = _message_class(descriptor.output_type.name)
            call = self.channel.unary_unary(
                f"/{PACKAGE}.{service}/{method}",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=output.FromString,
            )
            found = (call, descriptor.input_type.name)
            self._unary[key] = found
        return found

    # -- errors ---------------------------------------------------------------------------

    def error(
        self,
        exc: BaseException,
        rpc: str,
        *,
        timeout: float | None = None,
        attempts: int = 1,
        secrets: Iterable[str] = (),
    ) -> ControlDeckError:
        """The controldeck error for anything a gRPC call raised.

        Args:
            exc: What grpc raised (a `grpc.RpcError`, or anything else).
            rpc: `Service/Method`, for the message.
            timeout: The deadline the call had, in seconds (for DEADLINE_EXCEEDED).
            attempts: How many attempts were made.
            secrets: Extra strings to mask.

        Example:
            >>> err = wire.error(rpc_error, "ServiceService/GetService")
            >>> type(err).__name__, err.status_code, err.code
            ('NotFoundError', 404, 'not_found')
        """
        if isinstance(exc, ControlDeckError):
            return exc
        masked = self.secrets(secrets)
        code = grpc_code(exc)
        details = grpc_details(exc)
        text = redact_text(details, masked) if details else ""
        where = f"gRPC {rpc} on {self.target}"
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        if code is None:
            cause = redact_text(" ".join(str(exc).split()) or type(exc).__name__, masked)
            return APIConnectionError(
                f"{where} failed: {excerpt(cause, 300)}", method="POST", url=where, cause=exc
            )
        if code == "UNAVAILABLE" and _connect_failed(exc):
            return APIConnectionError(
                f"{where}: could not connect ({excerpt(text, 200) or 'unavailable'}){tried}. "
                "Is runed up and grpc_target right (runed's gRPC port is 7863)?",
                method="POST",
                url=where,
                cause=exc,
            )
        if code == "DEADLINE_EXCEEDED":
            limit = f" within {timeout:g}s" if timeout is not None else ""
            return APITimeoutError(
                f"{where}: no reply{limit} (deadline exceeded){tried}. Pass timeout= to wait "
                "longer, or deadline= to bound the whole call.",
                method="POST",
                url=where,
                cause=exc,
            )
        name = code.lower()
        cls = ERROR_CLASSES.get(name, APIStatusError)
        return cls(
            (excerpt(text, 300) if text else f"{rpc} failed with {code}") + tried,
            status_code=HTTP_STATUS.get(name, 500),
            request_id=_request_id(exc),
            code=name,
            body_excerpt=excerpt(text, 500),
        )


# -- the generated modules ----------------------------------------------------------------

_SERVICE_MODULES = {
    "NamespaceService": "namespace",
    "ServiceService": "service",
    "InstanceService": "instance",
    "LogService": "logs",
    "ExecService": "exec",
    "HealthService": "health",
    "SecretService": "secret",
    "ConfigmapService": "configmap",
    "AuthService": "auth",
    "AdminService": "admin",
}


def _grpc() -> Any:
    try:
        return importlib.import_module("grpc")
    except ImportError:
        raise MissingDependencyError("RuneClient(transport='grpc')", "grpc", "grpcio") from None


def _module(stem: str, *, grpc: bool = False, service: str = "") -> Any:
    if not stem:
        raise InvalidArgumentError(f"rune.api has no service {service!r}")
    try:
        return importlib.import_module(f"{_GENERATED}.{stem}_pb2{'_grpc' if grpc else ''}")
    except ImportError as exc:
        missing = "grpcio" if "grpc" in str(exc) and "protobuf" not in str(exc) else "protobuf"
        raise MissingDependencyError("RuneClient(transport='grpc')", "grpc", missing) from None


def _pb2() -> list[Any]:
    return [_module(stem) for stem in _MODULES]


def _method_descriptor(service: str, method: str) -> Any:
    module = _module(_SERVICE_MODULES.get(service, ""), service=service)
    try:
        return module.DESCRIPTOR.services_by_name[service].methods_by_name[method]
    except KeyError:
        raise InvalidArgumentError(f"rune.api.{service} has no RPC {method!r}") from None


_CLASSES: dict[str, Any] = {}


def _message_class(name: str) -> Any:
    """The generated class of `rune.api.<name>`."""
    cls = _CLASSES.get(name)
    if cls is None:
        for module in _pb2():
            cls = getattr(module, name, None)
            if cls is not None and hasattr(cls, "DESCRIPTOR"):
                break
        else:
            raise InvalidArgumentError(f"rune.api has no message {name!r}")
        _CLASSES[name] = cls
    return cls


_MESSAGE_FIELDS: dict[str, list[tuple[str, str, bool, bool]]] = {}


def _message_fields(descriptor: Any) -> list[tuple[str, str, bool, bool]]:
    """(name, JSON name, repeated, in a oneof) of a message's message-typed fields, maps
    left out (MessageToDict prints those as objects)."""
    fields = _MESSAGE_FIELDS.get(descriptor.full_name)
    if fields is None:
        fields = []
        for field in descriptor.fields:
            entry = field.message_type
            if entry is None:
                continue
            if (
                field.is_repeated
                and entry.containing_type is descriptor
                and entry.name.endswith("Entry")
                and set(entry.fields_by_name) == {"key", "value"}
            ):
                continue  # map<K, V>: its entries are protoc's nested KEntry messages
            fields.append(
                (field.name, field.json_name, field.is_repeated, field.containing_oneof is not None)
            )
        _MESSAGE_FIELDS[descriptor.full_name] = fields
    return fields


def _fill_nulls(message: Any, data: dict[str, Any]) -> None:
    """Write `null` for every unset sub-message (outside oneofs), at every depth."""
    for name, json_name, repeated, in_oneof in _message_fields(message.DESCRIPTOR):
        if repeated:
            for item, item_data in zip(
                getattr(message, name), data.get(json_name, ()), strict=False
            ):
                _fill_nulls(item, item_data)
        elif message.HasField(name):
            _fill_nulls(getattr(message, name), data[json_name])
        elif not in_oneof:
            data[json_name] = None


# -- reading a grpc error ------------------------------------------------------------------


def grpc_code(exc: BaseException) -> str | None:
    """`NOT_FOUND`… of a `grpc.RpcError` (or of a `grpc.Call` that failed), else None."""
    code = getattr(exc, "code", None)
    if not callable(code):
        return None
    try:
        value = code()
    except Exception:
        return None
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else None


def grpc_details(exc: BaseException) -> str:
    """The one-line details text of a `grpc.RpcError` (empty when it has none)."""
    details = getattr(exc, "details", None)
    if not callable(details):
        return ""
    try:
        text = details()
    except Exception:
        return ""
    return " ".join(str(text).split()) if text else ""


def _connect_failed(exc: BaseException) -> bool:
    """True when the channel could not connect, so the request never left the client."""
    if grpc_code(exc) != "UNAVAILABLE":
        return False
    text = f"{grpc_details(exc)} {getattr(exc, 'debug_error_string', lambda: '')()}".lower()
    return any(marker in text for marker in _CONNECT_FAILED)


def _request_id(exc: BaseException) -> str | None:
    trailers = getattr(exc, "trailing_metadata", None)
    if not callable(trailers):
        return None
    try:
        for key, value in trailers() or ():
            if key in ("x-request-id", "request-id") and isinstance(value, str):
                return value
    except Exception:
        return None
    return None


def _attempt_seconds(timeout: tuple[float, float | None], budget: Budget) -> float | None:
    """One attempt's gRPC deadline: the read timeout, clipped to what the budget leaves."""
    read = timeout[1]
    remaining = budget.remaining()
    if remaining is None:
        return read
    remaining = max(remaining, 0.001)
    return remaining if read is None else min(read, remaining)
