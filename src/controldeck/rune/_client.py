"""`RuneClient`: Rune (runed) over HTTP — Connect JSON or the seed's REST gateway
(openapi/rune.yaml)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Unpack

import requests

from controldeck._core import _constants as C
from controldeck._core._auth import BearerAuth
from controldeck._core._client import from_env
from controldeck._core._describe import origin_of
from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions, Timeout
from controldeck.errors import InvalidArgumentError
from controldeck.rune._admin import AdminAPI
from controldeck.rune._base import Transport
from controldeck.rune._errors import parse_rune_error
from controldeck.rune._exec import ExecAPI
from controldeck.rune._grpc import (
    DEFAULT_GRPC_TARGET,
    TLS,
    GrpcWire,
    check_grpc_target,
    require_grpc,
)
from controldeck.rune._resources import ResourcesAPI
from controldeck.rune._services import ServicesAPI

if TYPE_CHECKING:
    from controldeck._generated import rune as models
else:
    models = LazyModule("controldeck._generated.rune")

__all__ = ["RuneClient"]

BASE_URL_ENV = "RUNE_BASE_URL"
TOKEN_ENV = "RUNE_TOKEN"
GRPC_TARGET_ENV = "RUNE_GRPC_TARGET"
DEFAULT_BASE_URL = "http://localhost:7861"
TRANSPORTS = ("connect", "rest", "grpc")


class RuneClient(ServicesAPI, ResourcesAPI, AdminAPI, ExecAPI):
    """Client for a Rune server (runed) over HTTP or gRPC.

    Three wires, one API. `transport="connect"` (the default) is what current runed builds
    serve over HTTP: every RPC is `POST {base}{connect_prefix}/rune.api.<Service>/<Method>`
    with a protojson body, and `watch_*` streams use Connect's enveloped framing.
    `transport="grpc"` (needs `pip install 'controldeck[grpc]'`) talks to runed's primary
    gRPC port (`grpc_target`, :7863): the same methods and models, plus what only gRPC can
    carry: `logs()` over LogService/StreamLogs and `exec()`/`exec_session()` over
    ExecService/StreamExec. `transport="rest"` speaks the REST gateway the Rune docs
    describe (`/v1/namespaces/...`, Server-Sent Events for `logs()`); no runed build found
    serves it yet.

    Every method also takes `timeout=`, `deadline=`, `max_retries=` and `extra_headers=`
    for that one call. Reads (Get/List/WhoAmI...) are retried like GETs on both wires;
    writes are not. Safe to share between threads.

    Args:
        base_url: The server's origin. Defaults to `RUNE_BASE_URL`, else
            http://localhost:7861.
        token: A Rune token (`Authorization: Bearer <token>`). Defaults to `RUNE_TOKEN`.
            Only `admin_bootstrap()` works without one.
        transport: `"connect"`, `"grpc"` or `"rest"`.
        grpc_target: `host:port` of runed's gRPC listener (transport="grpc"). Defaults to
            `RUNE_GRPC_TARGET`, else localhost:7863.
        tls: For gRPC: False (plaintext, runed's default), True (TLS with the system's
            roots), or a CA bundle (PEM bytes or the path of a PEM file).
        connect_prefix: Where the Connect handler is mounted (`""` for a gateway build that
            serves `/rune.api.<Service>/<Method>` at the root).
        timeout: Seconds, or (connect, read) seconds, per attempt. Default (5, 60); the
            read part is also sent as `Connect-Timeout-Ms`, and is each gRPC attempt's
            deadline.
        deadline: Seconds any one call may take across its retries. Default: no limit.
        max_retries: Retries for failures that are safe to retry. Default 2.
        session: A `requests.Session` to use (proxies, TLS) instead of our own.
        user_agent: Replaces `controldeck/<version> python/<x.y> rune`.

    Raises:
        InvalidArgumentError: A bad base URL, transport, prefix, gRPC target or `tls`;
            nothing is sent.
        MissingDependencyError: transport="grpc" without the `grpc` extra installed.

    Example:
        >>> with RuneClient("http://localhost:7861", token="rune_...") as rune:
        ...     print([s.name for s in rune.list_services("default")])
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        transport: Transport = "connect",
        grpc_target: str | None = None,
        tls: TLS = False,
        connect_prefix: str = "/grpc",
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
    ) -> None:
        resolved = (from_env(base_url, BASE_URL_ENV) or DEFAULT_BASE_URL).strip()
        if origin_of(resolved) is None:
            where = "base_url" if base_url is not None else f"{BASE_URL_ENV}"
            raise InvalidArgumentError(
                f"{where} must be an http(s) URL, got {resolved[: C.MAX_ECHO]!r}"
            )
        if transport not in TRANSPORTS:
            raise InvalidArgumentError(
                f"transport must be 'connect', 'grpc' or 'rest', got {transport!r}"
            )
        target = check_grpc_target(
            grpc_target
            if grpc_target is not None
            else from_env(None, GRPC_TARGET_ENV) or DEFAULT_GRPC_TARGET
        )
        if not isinstance(tls, bool | bytes | str | os.PathLike):
            raise InvalidArgumentError(
                "tls must be True, False, PEM bytes or the path of a PEM file, "
                f"got {type(tls).__name__}"
            )
        if not isinstance(connect_prefix, str) or (
            connect_prefix and (not connect_prefix.startswith("/") or connect_prefix.endswith("/"))
        ):
            raise InvalidArgumentError(
                f"connect_prefix must be '' or a path like '/grpc', got {connect_prefix!r}"
            )
        copy_args = {
            "base_url": base_url,
            "token": token,
            "transport": transport,
            "grpc_target": grpc_target,
            "tls": tls,
            "connect_prefix": connect_prefix,
            "timeout": timeout,
            "deadline": deadline,
            "max_retries": max_retries,
            "session": session,
            "user_agent": user_agent,
        }
        self.transport = transport
        self.connect_prefix = connect_prefix
        self._auth = BearerAuth(
            from_env(token, TOKEN_ENV),
            missing=f"pass token= to RuneClient or set {TOKEN_ENV} (admin_bootstrap() issues one)",
        )
        super().__init__(
            base_url=resolved,
            copy_args=copy_args,
            auth=self._auth,
            secret_keys=models.SECRET_FIELDS,
            error_parser=parse_rune_error,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
        )
        if transport == "grpc":
            require_grpc("RuneClient(transport='grpc')")
            self._grpc = GrpcWire(
                target,
                tls=tls,
                auth=self._auth,
                user_agent=self._transport.headers["User-Agent"],
                timeout=timeout,
                deadline=deadline,
                max_retries=max_retries,
            )

    def __repr__(self) -> str:
        if self._grpc is not None:
            return f"RuneClient(grpc_target={self._grpc.target!r}, transport='grpc')"
        return f"RuneClient(base_url={self.base_url!r}, transport={self.transport!r})"

    def close(self) -> None:
        """Close the HTTP sessions and the gRPC channel this client opened. Safe to call
        twice."""
        if self._grpc is not None:
            self._grpc.close()
        super().close()

    def set_token(self, token: str | None) -> None:
        """Use another token from the next request on (e.g. the one `admin_bootstrap()`
        returned).

        Example:
            >>> rune.set_token(rune.admin_bootstrap().token_secret)
        """
        self._auth.token = token

    # -- plain probes (no RPC) ------------------------------------------------------------

    def healthz(self, **options: Unpack[CallOptions]) -> bool:
        """Whether the server answers `GET /healthz` with `ok` (no token needed).

        Example:
            >>> rune.healthz()
            True
        """
        return self._probe("/healthz", "ok", **options)

    def readyz(self, **options: Unpack[CallOptions]) -> bool:
        """Whether the server answers `GET /readyz` with `ready` (no token needed).

        Example:
            >>> rune.readyz()
            True
        """
        return self._probe("/readyz", "ready", **options)

    def _probe(self, path: str, expected: str, **options: Unpack[CallOptions]) -> bool:
        text: Any = self._transport.request("GET", path, reply="text", auth=False, **options)
        return isinstance(text, str) and text.strip() == expected
