"""`RunbeamClient`: the Runbeam Cloud gateway control plane (openapi/runbeam.yaml)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, Unpack
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from controldeck._core import _constants as C
from controldeck._core._auth import BearerAuth, check_token
from controldeck._core._client import BaseClient, from_env
from controldeck._core._describe import origin_of
from controldeck._core._lazy import LazyModule
from controldeck._core._logging import logger
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions, Timeout
from controldeck._core._pagination import Page, laravel_page
from controldeck._core._validate import (
    path_segment,
    require_choice,
    require_str,
    require_str_list,
)
from controldeck.errors import (
    InvalidArgumentError,
    NotFoundError,
    ResponseValidationError,
)
from controldeck.runbeam._refs import parse_reference
from controldeck.runbeam._tokens import MachineToken

if TYPE_CHECKING:
    from controldeck._generated import runbeam as models
    from controldeck._generated.runbeam import (
        AcknowledgeChangesResponse,
        AuthorizeResponse,
        Backend,
        BaseUrlResponse,
        Change,
        ChangeStatusResponse,
        ConfigType,
        Endpoint,
        Gateway,
        MeshTokenResponse,
        Pipeline,
        ResolveResourceResponse,
        Service,
        StoreConfigResponse,
        Transform,
    )
else:
    # Loaded on first use: dozens of model classes would double the import time.
    models = LazyModule("controldeck._generated.runbeam")

__all__ = ["JoltSpec", "RunbeamClient", "transform_instructions"]

BASE_URL_ENV = "RUNBEAM_BASE_URL"
TOKEN_ENV = "RUNBEAM_TOKEN"

JoltSpec: TypeAlias = list[dict[str, Any]] | dict[str, Any]
"""A transform's decoded JOLT instructions: a list of operations (or one object)."""


def _api_root(base_url: str) -> str:
    """The API root: a bare origin gets `/api`; anything with a path is kept as given."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgumentError(
            f"base_url must be an http(s) URL like https://runbeam.example/api, "
            f"got {base_url[: C.MAX_ECHO]!r}"
        )
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path or "/api", "", ""))


def _check_page(page: int | None) -> dict[str, Any]:
    if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
        raise InvalidArgumentError(f"page must be an int >= 1, got {page!r:.40}")
    return {"page": page}


class RunbeamClient(BaseClient):
    """Client for the Runbeam Cloud API.

    `base_url` is the API root (`https://<host>/api`); a bare origin gets `/api` appended.
    Every request sends `Authorization: Bearer <token>`. Safe to share between threads.

    Every method also takes the keyword arguments `timeout=` (seconds or `(connect, read)`
    per attempt), `deadline=` (seconds for the whole call, retries included),
    `max_retries=` and `extra_headers=` for that one call.

    Args:
        base_url: API root. Defaults to the `RUNBEAM_BASE_URL` environment variable.
        token: A user JWT, Sanctum token or gateway machine token (a `MachineToken` from
            `load_token()` too). Defaults to `RUNBEAM_TOKEN`. Only `authorize_gateway` works
            without one.
        timeout: Seconds, or (connect, read) seconds, per attempt. Default (5, 60).
        deadline: Seconds any one call may take across its retries. Default: no limit.
        max_retries: Retries for failures that are safe to retry. Default 2.
        session: A `requests.Session` to use (proxies, TLS settings) instead of our own.
        user_agent: Replaces `controldeck/<version> python/<x.y> runbeam`.

    Raises:
        InvalidArgumentError: No base URL was given or found, or it is not an http(s) URL;
            or the token is empty or holds whitespace or non-ASCII characters.

    Example:
        >>> from controldeck.runbeam import RunbeamClient
        >>> with RunbeamClient("https://runbeam.example/api", token="mt_...") as client:
        ...     for change in client.list_changes_for_gateway("gateway-123"):
        ...         print(change.id, change.status)
    """

    _platform = "runbeam"

    def __init__(
        self,
        base_url: str | None = None,
        token: str | MachineToken | None = None,
        *,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
    ) -> None:
        resolved = from_env(base_url, BASE_URL_ENV)
        if resolved is None:
            raise InvalidArgumentError(
                f"No Runbeam base URL: pass base_url= or set {BASE_URL_ENV} "
                "(the API root, e.g. https://runbeam.example/api)"
            )
        if isinstance(token, MachineToken):
            token = token.machine_token  # a token loaded with load_token() works as is
        self._token = from_env(token, TOKEN_ENV)
        super().__init__(
            base_url=_api_root(resolved),
            copy_args={
                "base_url": base_url,
                "token": token,
                "timeout": timeout,
                "deadline": deadline,
                "max_retries": max_retries,
                "session": session,
                "user_agent": user_agent,
            },
            auth=BearerAuth(
                self._token, missing=f"pass token= to RunbeamClient or set {TOKEN_ENV}"
            ),
            secret_keys=models.SECRET_FIELDS,  # the spec's x-controldeck-secret fields
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
        )

    def _list(
        self, path: str, envelope: type[Any], page: int | None, options: CallOptions
    ) -> Page[Any]:
        return self._page(path, envelope, laravel_page, params=_check_page(page), **options)

    # -- gateway authorization ------------------------------------------------------------

    def authorize_gateway(
        self,
        user_token: str,
        gateway_code: str,
        *,
        machine_public_key: str | None = None,
        metadata: Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> AuthorizeResponse:
        """Exchange a user token for a gateway's 30-day machine token.

        The server creates the gateway when the code is new. The user token is sent as the
        Bearer token and in the body, as the server expects; omitted optionals are left out
        of the body (not sent as null). Works on a client without a token.

        Args:
            user_token: A user JWT or Sanctum token (`1|abc...`).
            gateway_code: The gateway instance's code (at most 255 characters).
            machine_public_key: The gateway's public key, if it has one.
            metadata: Free-form strings such as `"version:1.0"`.

        Returns:
            The machine token (redacted in repr), its expiry, the gateway and abilities.

        Raises:
            InvalidArgumentError: An empty token or code, a code over 255 characters, or
                metadata that is not a list of strings.
            UnprocessableEntityError: The server rejected the body (`.details` per field).
            PermissionDeniedError: The gateway belongs to another team.

        Example:
            >>> auth = client.authorize_gateway(user_jwt, "my-gateway", metadata=["version:1.0"])
            >>> machine = RunbeamClient(client.base_url, token=auth.machine_token)
        """
        check_token("user_token", user_token)
        require_str("gateway_code", gateway_code)
        if len(gateway_code) > 255:
            raise InvalidArgumentError("gateway_code must be at most 255 characters")
        if machine_public_key is not None:
            require_str("machine_public_key", machine_public_key)
        if metadata is not None:
            if isinstance(metadata, Mapping):
                raise InvalidArgumentError(
                    'metadata is a list of strings such as ["version:1.0"], not a mapping'
                )
            metadata = require_str_list("metadata", metadata, allow_empty=True)
        body = models.AuthorizeRequest(
            token=user_token,
            gateway_code=gateway_code,
            machine_public_key=UNSET if machine_public_key is None else machine_public_key,
            metadata=UNSET if metadata is None else list(metadata),
        )
        return self._call(
            "POST",
            "/harmony/authorize",
            models.AuthorizeResponse,
            json=body,
            auth=BearerAuth(user_token),
            secrets=(user_token,),
            **options,
        )

    # -- change management ----------------------------------------------------------------

    def list_changes(
        self, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Change]:
        """List every change the token can see (admin view; gateways use the per-gateway list).

        Args:
            page: Start at this page (1-based). Iterating the result walks all later pages.

        Returns:
            A lazy `Page[Change]`.

        Example:
            >>> for change in client.list_changes():
            ...     print(change.id, change.status)
        """
        return self._list("/harmony/changes", models.ChangePage, page, options)

    def list_changes_for_gateway(
        self, gateway_id: str, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Change]:
        """List one gateway's changes: what a gateway polls for new configuration.

        Args:
            gateway_id: The gateway's id.
            page: Start at this page (1-based).

        Returns:
            A lazy `Page[Change]` (list items may omit `toml_config`; use `get_change`).

        Raises:
            InvalidArgumentError: `gateway_id` is empty.

        Example:
            >>> pending = [c for c in client.list_changes_for_gateway("gateway-123")
            ...            if c.status == "pending"]
        """
        segment = path_segment("gateway_id", gateway_id)
        return self._list(f"/harmony/changes/{segment}", models.ChangePage, page, options)

    def get_change(self, change_id: str, **options: Unpack[CallOptions]) -> Change:
        """Fetch one change with its TOML configuration.

        Args:
            change_id: The change's id.

        Returns:
            The change, including `toml_config`.

        Raises:
            InvalidArgumentError: `change_id` is empty.
            NotFoundError: No such change.

        Example:
            >>> client.get_change("01JBX...").toml_config
            '[proxy]\\nid = "test"\\n'
        """
        segment = path_segment("change_id", change_id)
        return self._get(f"/harmony/change/{segment}", models.Change, unwrap="data", **options)

    def acknowledge_changes(
        self, change_ids: Sequence[str], **options: Unpack[CallOptions]
    ) -> AcknowledgeChangesResponse:
        """Acknowledge received changes (pending → acknowledged).

        Partial success is reported in the reply's `failed` list, not as an error.

        Args:
            change_ids: One or more change ids.

        Returns:
            `acknowledged` and `failed` id lists.

        Raises:
            InvalidArgumentError: `change_ids` is empty or holds a non-string or empty id.

        Example:
            >>> client.acknowledge_changes(["change-1", "change-2"]).failed
            []
        """
        body = models.AcknowledgeChangesRequest(
            change_ids=require_str_list("change_ids", change_ids)
        )
        return self._post(
            "/harmony/changes/acknowledge", models.AcknowledgeChangesResponse, json=body, **options
        )

    def mark_change_applied(
        self, change_id: str, **options: Unpack[CallOptions]
    ) -> ChangeStatusResponse:
        """Report that a change was applied (sent with no body).

        Args:
            change_id: The change's id.

        Returns:
            `success` and the server's `message`.

        Raises:
            InvalidArgumentError: `change_id` is empty.
            PermissionDeniedError: The change belongs to another gateway.

        Example:
            >>> client.mark_change_applied("change-1").message
            'Change marked as applied'
        """
        segment = path_segment("change_id", change_id)
        return self._post(
            f"/harmony/change/{segment}/applied", models.ChangeStatusResponse, **options
        )

    def mark_change_failed(
        self,
        change_id: str,
        error: str,
        *,
        details: Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> ChangeStatusResponse:
        """Report that applying a change failed.

        Args:
            change_id: The change's id.
            error: What went wrong, in one line.
            details: Further lines (left out of the body when None).

        Returns:
            `success` and the server's `message`.

        Raises:
            InvalidArgumentError: `change_id` or `error` is empty, or `details` is not a
                list of strings.

        Example:
            >>> client.mark_change_failed("change-1", "Configuration parse error",
            ...                           details=["Invalid JSON at line 42"]).success
            True
        """
        segment = path_segment("change_id", change_id)
        require_str("error", error)
        if details is not None:
            details = require_str_list("details", details, allow_empty=True)
        body = models.ChangeFailedRequest(
            error=error, details=UNSET if details is None else details
        )
        return self._post(
            f"/harmony/change/{segment}/failed", models.ChangeStatusResponse, json=body, **options
        )

    def store_config(
        self,
        config_type: ConfigType | str,
        config: str,
        *,
        id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> StoreConfigResponse:
        """Push a TOML configuration into Runbeam Cloud (creates a change for the gateway).

        Args:
            config_type: One of `gateway`, `pipeline`, `transform`, `mesh`.
            config: The TOML text.
            id: The existing object to update; omit to create a new one.

        Returns:
            `success`, `message` and `data` (`id`, `type`, `action`: created or updated).

        Raises:
            InvalidArgumentError: An unknown `config_type`, an empty `config` or `id`.

        Example:
            >>> client.store_config("gateway", '[proxy]\\nid = "test"\\n').data.action
            <StoreConfigAction.CREATED: 'created'>
        """
        kind = require_choice("config_type", config_type, [t.value for t in models.ConfigType])
        require_str("config", config)
        if id is not None:
            require_str("id", id)
        body = models.StoreConfigRequest(
            type=models.ConfigType(kind), config=config, id=UNSET if id is None else id
        )
        return self._post("/harmony/update", models.StoreConfigResponse, json=body, **options)

    # -- resources ------------------------------------------------------------------------

    def list_gateways(
        self, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Gateway]:
        """List the team's gateways.

        Example:
            >>> [g.code for g in client.list_gateways()]
            ['my-gateway', ...]
        """
        return self._list("/gateways", models.GatewayPage, page, options)

    def get_gateway(self, gateway_id: str, **options: Unpack[CallOptions]) -> Gateway:
        """Fetch one gateway by id or by code.

        Args:
            gateway_id: The gateway's id, or its code.

        Raises:
            InvalidArgumentError: `gateway_id` is empty.
            NotFoundError: No such gateway.

        Example:
            >>> client.get_gateway("my-gateway").name
            'My Gateway'
        """
        segment = path_segment("gateway_id", gateway_id)
        return self._get(f"/gateways/{segment}", models.Gateway, unwrap="data", **options)

    def list_services(
        self, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Service]:
        """List services.

        Example:
            >>> next(iter(client.list_services())).name
            'API Service'
        """
        return self._list("/services", models.ServicePage, page, options)

    def get_service(self, service_id: str, **options: Unpack[CallOptions]) -> Service:
        """Fetch one service.

        Raises:
            InvalidArgumentError: `service_id` is empty.
            NotFoundError: No such service.

        Example:
            >>> client.get_service("service-001").gateway_id
            'gateway-123'
        """
        segment = path_segment("service_id", service_id)
        return self._get(f"/services/{segment}", models.Service, unwrap="data", **options)

    def list_endpoints(
        self, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Endpoint]:
        """List endpoints.

        Example:
            >>> [e.path for e in client.list_endpoints()]
            ['/api/users', ...]
        """
        return self._list("/endpoints", models.EndpointPage, page, options)

    def list_backends(
        self, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Backend]:
        """List backends.

        Example:
            >>> [b.url for b in client.list_backends()]
            ['https://api.example.com', ...]
        """
        return self._list("/backends", models.BackendPage, page, options)

    def list_pipelines(
        self, *, page: int | None = None, **options: Unpack[CallOptions]
    ) -> Page[Pipeline]:
        """List pipelines.

        Example:
            >>> [p.code for p in client.list_pipelines()]
            ['main-pipeline', ...]
        """
        return self._list("/pipelines", models.PipelinePage, page, options)

    def get_transform(self, transform_id: str, **options: Unpack[CallOptions]) -> Transform:
        """Fetch one transform; `transform_instructions()` parses its JOLT spec.

        Raises:
            InvalidArgumentError: `transform_id` is empty.
            NotFoundError: No such transform.

        Example:
            >>> transform = client.get_transform("transform-123")
            >>> transform_instructions(transform)
            [{'operation': 'shift', 'spec': {...}}]
        """
        segment = path_segment("transform_id", transform_id)
        return self._get(f"/transforms/{segment}", models.Transform, unwrap="data", **options)

    # -- discovery ------------------------------------------------------------------------

    def get_base_url(self, **options: Unpack[CallOptions]) -> BaseUrlResponse:
        """Ask the server for its API base URL (service discovery).

        Tries `<api root>/harmony/base-url`; on a 404 or a reply that is not JSON, tries
        `<origin>/harmony/base-url`, as the upstream SDK does.

        Example:
            >>> client.get_base_url().base_url
            'https://runbeam.example/api'
        """
        try:
            return self._get("/harmony/base-url", models.BaseUrlResponse, **options)
        except (NotFoundError, ResponseValidationError):
            return self._get(
                f"{origin_of(self.base_url)}/harmony/base-url", models.BaseUrlResponse, **options
            )

    def discover_base_url(
        self, *, trust_new_host: bool = False, **options: Unpack[CallOptions]
    ) -> RunbeamClient:
        """A new client on the URL the server names (`full_url`, else `base_url`).

        The new client keeps this client's options. It keeps the token only when the
        discovered URL is on this client's own origin, or when you pass
        `trust_new_host=True`: a reply naming another host never receives the token by
        itself. This client stays open.

        Args:
            trust_new_host: Hand the token to a discovered URL on another origin too.

        Raises:
            ResponseValidationError: The server named something that is not an http(s) URL.

        Example:
            >>> client = RunbeamClient("https://runbeam.example", token=t).discover_base_url()
        """
        found = self.get_base_url(**options)
        url, field = (
            (found.full_url, "full_url") if found.full_url else (found.base_url, "base_url")
        )
        try:
            root = _api_root(url)
        except InvalidArgumentError as exc:
            raise ResponseValidationError(
                f"Base-URL discovery returned {field}={url[: C.MAX_ECHO]!r}, "
                "which is not an http(s) URL",
                path=f"$.{field}",
            ) from exc
        keep = trust_new_host or origin_of(root) == origin_of(self.base_url)
        if not keep and self._token is not None:
            logger.info(
                "discovered %s on another host: the new client has no token "
                "(pass trust_new_host=True to keep it)",
                origin_of(root),
            )
        return self.copy(base_url=root, token=self._token if keep else None)

    # -- mesh -----------------------------------------------------------------------------

    def request_mesh_token(
        self, mesh_id: str, destination_url: str, **options: Unpack[CallOptions]
    ) -> MeshTokenResponse:
        """Get a short-lived (5 minute) mesh JWT for a call to another gateway.

        Needs a gateway machine token.

        Args:
            mesh_id: The mesh's id.
            destination_url: The full URL to be called (path and query pass unchanged).

        Returns:
            `token` (redacted in repr), `expires_at`, `mesh_id`.

        Raises:
            InvalidArgumentError: An empty id or URL.
            PermissionDeniedError: No egress rights, or no ingress matches the URL.

        Example:
            >>> client.request_mesh_token("01HXYZ...", "https://partner.example/fhir/r4/Patient")
        """
        require_str("mesh_id", mesh_id)
        require_str("destination_url", destination_url)
        body = models.MeshTokenRequest(mesh_id=mesh_id, destination_url=destination_url)
        return self._post("/harmony/mesh/token", models.MeshTokenResponse, json=body, **options)

    def resolve_reference(
        self, ref: str, **options: Unpack[CallOptions]
    ) -> ResolveResourceResponse:
        """Resolve a resource reference such as `runbeam.acme.ingress.name.patient_api`.

        The reference is checked against the grammar first; `local.*` references are
        resolved by the gateway itself and never sent.

        Args:
            ref: `{provider}.name.{name}`, `{provider}.id.{id}`, `{provider}.{team}.id.{id}`
                or `{provider}.{team}.{type}.name|id.{value}`.

        Returns:
            `data` (the resource) and `meta` (`provider`, `resolved_at`).

        Raises:
            InvalidArgumentError: `ref` does not follow the grammar, or is a `local.` ref.
            NotFoundError: No such resource.

        Example:
            >>> client.resolve_reference("runbeam.acme.ingress.name.patient_api").data.urls
            ['https://...']
        """
        parse_reference(ref, allow_local=False)
        # Percent-encode every byte but A-Z a-z 0-9 - . _ ~, exactly as upstream does.
        path = f"/harmony/resources/resolve?ref={quote(ref, safe='')}"
        return self._get(path, models.ResolveResourceResponse, **options)


def transform_instructions(transform: Transform) -> JoltSpec | None:
    """Parse a transform's JOLT instructions (a JSON string on the wire) into Python data.

    Args:
        transform: A transform from `get_transform`.

    Returns:
        The decoded JOLT spec (a list of operations, or one object), or None if it has none.

    Raises:
        ResponseValidationError: The instructions are not valid JSON, or not an array or
            object.

    Example:
        >>> transform_instructions(client.get_transform("transform-123"))[0]["operation"]
        'shift'
    """
    options = transform.options
    if options is None or options.instructions is None:
        return None
    cause: ValueError | None = None
    try:
        spec = json.loads(options.instructions)
    except ValueError as exc:
        problem, cause = f"not valid JSON: {exc}", exc
    else:
        if isinstance(spec, dict) or (
            isinstance(spec, list) and all(isinstance(op, dict) for op in spec)
        ):
            return spec
        problem = f"a JSON {type(spec).__name__}, not an array of operations"
    raise ResponseValidationError(
        f"Transform {transform.id or transform.code!r} has instructions that are {problem}",
        path="$.data.options.instructions",
        body_excerpt=options.instructions[: C.BODY_EXCERPT_CHARS],
    ) from cause
