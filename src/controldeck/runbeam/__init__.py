"""Runbeam Cloud: the gateway control plane.

Example:
    >>> from controldeck.runbeam import RunbeamClient
    >>> with RunbeamClient("https://runbeam.example/api", token="mt_...") as client:
    ...     for change in client.list_changes_for_gateway("gateway-123"):
    ...         print(change.id, change.status)

JWT validation (`validate_jwt_token`) and encrypted token files (`save_token`,
`load_token`) need the extra: `pip install 'controldeck[runbeam]'`. The client and
`controldeck.testing.runbeam.FakeRunbeam` do not. See docs/runbeam.md.

Importing this module loads the client only: the models, JWT validation and token files
are imported on first use, so `import controldeck.runbeam` costs little more than
`import requests`.
"""

from typing import TYPE_CHECKING

from controldeck._core._lazy import lazy_exports
from controldeck._core._pagination import Page
from controldeck.runbeam._client import JoltSpec, RunbeamClient, transform_instructions

if TYPE_CHECKING:
    from controldeck._generated.runbeam import (
        AcknowledgeChangesResponse,
        AuthorizeResponse,
        Backend,
        BaseUrlResponse,
        Change,
        ChangeStatus,
        ChangeStatusResponse,
        ConfigType,
        Endpoint,
        Gateway,
        GatewayInfo,
        MeshTokenResponse,
        Pipeline,
        ResolvedResource,
        ResolveResourceResponse,
        ResourceType,
        Service,
        StoreConfigAction,
        StoreConfigResponse,
        Transform,
    )
    from controldeck.runbeam._jwt import (
        JwtClaims,
        TeamInfo,
        UserInfo,
        clear_jwks_cache,
        extract_bearer_token,
        validate_jwt_token,
    )
    from controldeck.runbeam._refs import ResourceReference, parse_reference
    from controldeck.runbeam._tokens import (
        MachineToken,
        load_machine_token,
        load_token,
        save_machine_token,
        save_token,
    )
else:
    __getattr__ = lazy_exports(
        __name__,
        globals(),
        {
            "controldeck._generated.runbeam": [
                "AcknowledgeChangesResponse",
                "AuthorizeResponse",
                "Backend",
                "BaseUrlResponse",
                "Change",
                "ChangeStatus",
                "ChangeStatusResponse",
                "ConfigType",
                "Endpoint",
                "Gateway",
                "GatewayInfo",
                "MeshTokenResponse",
                "Pipeline",
                "ResolvedResource",
                "ResolveResourceResponse",
                "ResourceType",
                "Service",
                "StoreConfigAction",
                "StoreConfigResponse",
                "Transform",
            ],
            "controldeck.runbeam._jwt": [
                "JwtClaims",
                "TeamInfo",
                "UserInfo",
                "clear_jwks_cache",
                "extract_bearer_token",
                "validate_jwt_token",
            ],
            "controldeck.runbeam._refs": [
                "ResourceReference",
                "parse_reference",
            ],
            "controldeck.runbeam._tokens": [
                "MachineToken",
                "load_machine_token",
                "load_token",
                "save_machine_token",
                "save_token",
            ],
        },
    )

__all__ = [
    "AcknowledgeChangesResponse",
    "AuthorizeResponse",
    "Backend",
    "BaseUrlResponse",
    "Change",
    "ChangeStatus",
    "ChangeStatusResponse",
    "ConfigType",
    "Endpoint",
    "Gateway",
    "GatewayInfo",
    "JoltSpec",
    "JwtClaims",
    "MachineToken",
    "MeshTokenResponse",
    "Page",
    "Pipeline",
    "ResolveResourceResponse",
    "ResolvedResource",
    "ResourceReference",
    "ResourceType",
    "RunbeamClient",
    "Service",
    "StoreConfigAction",
    "StoreConfigResponse",
    "TeamInfo",
    "Transform",
    "UserInfo",
    "clear_jwks_cache",
    "extract_bearer_token",
    "load_machine_token",
    "load_token",
    "parse_reference",
    "save_machine_token",
    "save_token",
    "transform_instructions",
    "validate_jwt_token",
]


def __dir__() -> list[str]:
    # Tab completion (IPython, Jupyter) lists the lazily loaded names too.
    return sorted(set(globals()) | set(__all__))
