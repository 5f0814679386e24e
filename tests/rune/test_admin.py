"""AdminService (tokens, users, policies, registries) on both wires: the exact request of
every method, the unwrapped reply, int64 handling, secrets masked, error mapping, and
argument errors raised before anything is sent."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest

from controldeck._generated.rune import (
    Policy,
    PolicyRule,
    RegistryAuthConfig,
    RegistryConfig,
)
from controldeck.errors import (
    ConflictError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import BASE_URL, rpc_url
from tests.rune.test_auth import REMOTE_ADMIN, expect, expect_error, sent

REGISTRY_PASSWORD = "hunter2-registry-pa55word"
REGISTRY_TOKEN = "ghp_registry_t0ken_value_123"
INLINE_SECRET = "inline-dockerconfig-s3cret"


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    return caplog


# -- tokens ------------------------------------------------------------------------------------

TOKEN_LIST = (("AdminService", "TokenList"), ("GET", "/v1/admin/tokens"))
TOKENS = {
    "tokens": [
        {
            "id": "tok-root-1",
            "name": "bootstrap-admin-1730937600000000000",
            "subjectId": "u-root",
            "subjectType": "user",
            "description": "bootstrap-admin",
            "issuedAt": "1730937600",
            "expiresAt": "0",
            "revoked": False,
        },
        {
            "id": "tok-7",
            "name": "ci",
            "subjectId": "u-9",
            "subjectType": "user",
            "description": "",
            "issuedAt": "1730941200",
            "expiresAt": "9223372036854775807",  # int64 max survives as an int
            "revoked": True,
        },
    ]
}


def test_list_tokens_decodes_int64_strings(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *TOKEN_LIST, json=TOKENS)
    tokens = both.list_tokens()
    assert [(t.id, t.issued_at, t.expires_at, t.revoked) for t in tokens] == [
        ("tok-root-1", 1730937600, 0, False),
        ("tok-7", 1730941200, 2**63 - 1, True),
    ]
    assert all(type(t.issued_at) is int for t in tokens)
    assert (tokens[1].subject_id, tokens[1].subject_type) == ("u-9", "user")
    sent(api, both, *TOKEN_LIST, {}, rest_body=False)


def test_list_tokens_empty_reply(api: ConformanceMock, client: RuneClient) -> None:
    # An older server without EmitUnpopulated leaves the empty list out.
    expect(api, client, *TOKEN_LIST, json={})
    assert client.list_tokens() == []


@pytest.mark.off_spec("a reply whose int64 is not a number, to see the error")
def test_list_tokens_bad_int64_is_a_response_error(
    api: ConformanceMock, client: RuneClient
) -> None:
    bad = {"tokens": [{**TOKENS["tokens"][0], "issuedAt": "yesterday"}]}
    expect(api, client, *TOKEN_LIST, json=bad)
    with pytest.raises(ResponseValidationError) as info:
        client.list_tokens()
    assert info.value.path is not None and "issuedAt" in info.value.path


BAD_GATEWAY: dict[str, Any] = {"status": 502, "json": {"code": "unavailable", "message": "busy"}}


def test_reads_over_connect_are_retried_like_gets(api: ConformanceMock, client: RuneClient) -> None:
    # A Connect read is a POST, yet safe to repeat: retried after a 502 like a GET.
    waits: list[float] = []
    client._transport.sleep = waits.append
    api.add("POST", rpc_url("AdminService", "TokenList"), **BAD_GATEWAY)
    api.add("POST", rpc_url("AdminService", "TokenList"), json=TOKENS)
    assert len(client.list_tokens(max_retries=1)) == 2
    assert len(api.calls) == 2 and len(waits) == 1


def test_writes_are_not_retried(api: ConformanceMock, client: RuneClient) -> None:
    client._transport.sleep = lambda _: None
    api.add("POST", rpc_url("AdminService", "UserCreate"), **BAD_GATEWAY)
    with pytest.raises(InternalServerError):
        client.create_user("alice", max_retries=1)
    assert len(api.calls) == 1


# -- users -------------------------------------------------------------------------------------

USER_CREATE = (("AdminService", "UserCreate"), ("POST", "/v1/admin/users"))
USER_LIST = (("AdminService", "UserList"), ("GET", "/v1/admin/users"))
ALICE = {
    "id": "u-2",
    "kind": "user",
    "name": "alice",
    "email": "alice@example.org",
    "policies": ["readonly", "deployer"],
}


def test_create_user(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *USER_CREATE, json={"user": ALICE})
    user = both.create_user("alice", email="alice@example.org", policies=["readonly", "deployer"])
    assert (user.id, user.kind, user.name, user.email, user.policies) == (
        "u-2",
        "user",
        "alice",
        "alice@example.org",
        ["readonly", "deployer"],
    )
    sent(
        api,
        both,
        *USER_CREATE,
        {"name": "alice", "email": "alice@example.org", "policies": ["readonly", "deployer"]},
    )


def test_create_user_sends_only_the_name_by_default(
    api: ConformanceMock, client: RuneClient
) -> None:
    expect(api, client, *USER_CREATE, json={"user": ALICE})
    client.create_user("alice")
    sent(api, client, *USER_CREATE, {"name": "alice"})


def test_create_user_reply_without_the_user(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *USER_CREATE, json={"user": None})
    with pytest.raises(ResponseValidationError, match="UserCreate reply has no 'user'"):
        client.create_user("alice")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("",), {}, "name must not be empty"),
        ((None,), {}, "name must be a string"),
        (("alice",), {"email": 3}, "email must be a string"),
        (("alice",), {"policies": "readonly"}, "policies must be a list"),
    ],
)
def test_create_user_bad_arguments_send_nothing(
    api: ConformanceMock,
    both: RuneClient,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        both.create_user(*args, **kwargs)
    assert len(api.calls) == 0


def test_list_users(api: ConformanceMock, both: RuneClient) -> None:
    root = {"id": "u-root", "kind": "user", "name": "root", "email": "", "policies": ["root"]}
    expect(api, both, *USER_LIST, json={"users": [root, ALICE]})
    users = both.list_users()
    assert [(u.name, u.policies) for u in users] == [
        ("root", ["root"]),
        ("alice", ["readonly", "deployer"]),
    ]
    sent(api, both, *USER_LIST, {}, rest_body=False)


def test_admin_call_from_a_remote_peer_keeps_the_server_message(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect_error(api, both, *USER_LIST, "permission_denied", REMOTE_ADMIN)
    with pytest.raises(PermissionDeniedError) as info:
        both.list_users()
    assert (info.value.status_code, info.value.code) == (403, "permission_denied")
    assert REMOTE_ADMIN in str(info.value)


# -- policies ----------------------------------------------------------------------------------

POLICY_CREATE = (("AdminService", "PolicyCreate"), ("POST", "/v1/admin/policies"))
POLICY_LIST = (("AdminService", "PolicyList"), ("GET", "/v1/admin/policies"))
POLICY_GET = (("AdminService", "PolicyGet"), ("GET", "/v1/admin/policies/deployer"))
POLICY_UPDATE = (("AdminService", "PolicyUpdate"), ("PUT", "/v1/admin/policies/deployer"))
POLICY_DELETE = (("AdminService", "PolicyDelete"), ("DELETE", "/v1/admin/policies/deployer"))
ATTACH = (("AdminService", "PolicyAttachToSubject"), ("POST", "/v1/admin/policies/deployer/attach"))
DETACH = (
    ("AdminService", "PolicyDetachFromSubject"),
    ("POST", "/v1/admin/policies/deployer/detach"),
)
RULES_WIRE = [
    {"resource": "services", "verbs": ["get", "list", "scale"], "namespace": "prod"},
    {"resource": "instances", "verbs": ["get"]},
]
DEPLOYER: dict[str, Any] = {
    "id": "pol-3",
    "name": "deployer",
    "description": "CI deploys",
    "rules": [{**RULES_WIRE[0]}, {**RULES_WIRE[1], "namespace": ""}],
    "builtin": False,
}


def test_create_policy_from_mappings_and_rules(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *POLICY_CREATE, json={"policy": DEPLOYER})
    policy = both.create_policy(
        "deployer",
        [RULES_WIRE[0], PolicyRule(resource="instances", verbs=["get"])],
        description="CI deploys",
    )
    assert (policy.id, policy.name, policy.builtin) == ("pol-3", "deployer", False)
    assert [(r.resource, r.verbs, r.namespace) for r in policy.rules or []] == [
        ("services", ["get", "list", "scale"], "prod"),
        ("instances", ["get"], ""),
    ]
    sent(
        api,
        both,
        *POLICY_CREATE,
        {"policy": {"name": "deployer", "description": "CI deploys", "rules": RULES_WIRE}},
    )


def test_create_policy_keeps_an_empty_namespace(api: ConformanceMock, client: RuneClient) -> None:
    # A rule copied from a fetched policy (`to_dict()`) has namespace "" when unscoped.
    expect(api, client, *POLICY_CREATE, json={"policy": DEPLOYER})
    client.create_policy("deployer", [DEPLOYER["rules"][1]])
    sent(
        api,
        client,
        *POLICY_CREATE,
        {"policy": {"name": "deployer", "rules": [{**RULES_WIRE[1], "namespace": ""}]}},
    )


def test_create_policy_without_rules_or_description(
    api: ConformanceMock, client: RuneClient
) -> None:
    expect(api, client, *POLICY_CREATE, json={"policy": {"name": "empty", "rules": []}})
    assert client.create_policy("empty", []).name == "empty"
    sent(api, client, *POLICY_CREATE, {"policy": {"name": "empty", "rules": []}})


@pytest.mark.parametrize(
    ("rules", "match"),
    [
        ("services", "rules must be a list"),
        ({"resource": "services", "verbs": ["get"]}, "rules must be a list"),
        (None, "rules must be a list"),
        ([{"resource": "services"}], r"rules\[0\] needs resource and verbs"),
        ([{"resource": "s", "verbs": ["get"], "verb": "x"}], r"rules\[0\] has unknown keys"),
        ([{"resource": "", "verbs": ["get"]}], r"rules\[0\]\.resource must not be empty"),
        ([{"resource": "s", "verbs": "get"}], r"rules\[0\]\.verbs must be a list"),
        ([{"resource": "s", "verbs": []}], r"rules\[0\]\.verbs must not be empty"),
        ([{"resource": "s", "verbs": ["get"], "namespace": 1}], r"namespace must be a string"),
        ([("services", ["get"])], r"rules\[0\] must be a PolicyRule or a mapping"),
    ],
)
def test_create_policy_bad_rules_send_nothing(
    api: ConformanceMock, both: RuneClient, rules: Any, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        both.create_policy("deployer", rules)
    assert len(api.calls) == 0


def test_get_policy(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *POLICY_GET, json={"policy": DEPLOYER})
    policy = both.get_policy("deployer")
    assert (policy.id, policy.description) == ("pol-3", "CI deploys")
    sent(api, both, *POLICY_GET, {"name": "deployer"}, rest_body=False)


def test_get_policy_by_id(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *POLICY_GET, json={"policy": DEPLOYER})
    assert client.get_policy(policy_id="pol-3").name == "deployer"
    sent(api, client, *POLICY_GET, {"id": "pol-3"})


def test_get_missing_policy(api: ConformanceMock, both: RuneClient) -> None:
    # The policy store's not-found is a plain Go error on the server: `unknown`.
    expect_error(api, both, *POLICY_GET, "unknown", "policy not found: deployer")
    with pytest.raises(InternalServerError, match="policy not found: deployer"):
        both.get_policy("deployer")


def test_get_policy_reply_without_the_policy(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *POLICY_GET, json={})
    with pytest.raises(ResponseValidationError, match="PolicyGet reply has no 'policy'"):
        client.get_policy("deployer")


def test_list_policies(api: ConformanceMock, both: RuneClient) -> None:
    readonly = {
        "id": "pol-ro",
        "name": "readonly",
        "description": "",
        "rules": [{"resource": "*", "verbs": ["get", "list"], "namespace": "*"}],
        "builtin": True,
    }
    expect(api, both, *POLICY_LIST, json={"policies": [readonly, DEPLOYER]})
    policies = both.list_policies()
    assert [(p.name, p.builtin) for p in policies] == [("readonly", True), ("deployer", False)]
    sent(api, both, *POLICY_LIST, {}, rest_body=False)


def test_update_policy(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *POLICY_UPDATE, json={"policy": DEPLOYER})
    policy = Policy(
        name="deployer",
        description="CI deploys",
        rules=[PolicyRule(resource="services", verbs=["*"], namespace="prod")],
    )
    assert both.update_policy(policy).id == "pol-3"
    sent(
        api,
        both,
        *POLICY_UPDATE,
        {
            "policy": {
                "name": "deployer",
                "description": "CI deploys",
                "rules": [{"resource": "services", "verbs": ["*"], "namespace": "prod"}],
            }
        },
    )


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        ({"name": "deployer"}, "policy must be a controldeck.rune Policy"),
        (None, "policy must be a controldeck.rune Policy"),
        (Policy(description="x"), "policy.name must be a string"),
        (Policy(name=""), "policy.name must not be empty"),
    ],
)
def test_update_policy_bad_arguments_send_nothing(
    api: ConformanceMock, both: RuneClient, policy: Any, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        both.update_policy(policy)
    assert len(api.calls) == 0


def test_delete_policy(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *POLICY_DELETE, json={"deleted": True})
    assert both.delete_policy("deployer") is True
    sent(api, both, *POLICY_DELETE, {"name": "deployer"}, rest_body=False)


def test_delete_policy_by_id(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *POLICY_DELETE, json={"deleted": True})
    assert client.delete_policy(policy_id="pol-3") is True
    sent(api, client, *POLICY_DELETE, {"id": "pol-3"})


@pytest.mark.parametrize("method", ["get_policy", "delete_policy"])
@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((), {}, r"exactly one of name= or policy_id= \(got neither\)"),
        (("deployer",), {"policy_id": "pol-3"}, r"exactly one of name= or policy_id= \(got both\)"),
        (("",), {}, "name must not be empty"),
        ((), {"policy_id": 3}, "policy_id must be a string"),
    ],
)
def test_policy_reference_errors_send_nothing(
    api: ConformanceMock,
    both: RuneClient,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        getattr(both, method)(*args, **kwargs)
    assert len(api.calls) == 0


@pytest.mark.parametrize("method", ["get_policy", "delete_policy"])
def test_policy_id_is_connect_only(api: ConformanceMock, rest: RuneClient, method: str) -> None:
    with pytest.raises(InvalidArgumentError, match="REST gateway addresses a policy by name"):
        getattr(rest, method)(policy_id="pol-3")
    assert len(api.calls) == 0


def test_attach_policy(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *ATTACH, json={"attached": True})
    assert both.attach_policy("deployer", "alice") is True
    sent(
        api,
        both,
        *ATTACH,
        {"policyName": "deployer", "subjectName": "alice", "subjectKind": "user"},
    )


def test_attach_policy_by_ids(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *ATTACH, json={"attached": True})
    assert client.attach_policy(policy_id="pol-3", subject_id="u-2", subject_kind="user")
    sent(api, client, *ATTACH, {"policyId": "pol-3", "subjectId": "u-2", "subjectKind": "user"})


def test_attach_policy_to_a_subject_id_over_rest(api: ConformanceMock, rest: RuneClient) -> None:
    expect(api, rest, *ATTACH, json={"attached": True})
    assert rest.attach_policy("deployer", subject_id="u-2") is True
    sent(api, rest, *ATTACH, {"policyName": "deployer", "subjectId": "u-2", "subjectKind": "user"})


def test_detach_policy(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *DETACH, json={"detached": True})
    assert both.detach_policy("deployer", "alice") is True
    sent(
        api,
        both,
        *DETACH,
        {"policyName": "deployer", "subjectName": "alice", "subjectKind": "user"},
    )


def test_detach_policy_reply_without_the_flag_is_false(
    api: ConformanceMock, client: RuneClient
) -> None:
    expect(api, client, *DETACH, json={})
    assert client.detach_policy("deployer", "alice") is False


def test_detach_policy_from_a_missing_user(api: ConformanceMock, both: RuneClient) -> None:
    expect_error(api, both, *DETACH, "not_found", "user not found: bob")
    with pytest.raises(NotFoundError, match="user not found: bob"):
        both.detach_policy("deployer", "bob")


@pytest.mark.parametrize("method", ["attach_policy", "detach_policy"])
@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (
            (),
            {"subject_name": "alice"},
            r"\(policy\): pass exactly one of policy_name= or policy_id=",
        ),
        (("deployer",), {}, r"\(subject\): pass exactly one of subject_name= or subject_id="),
        (("deployer", "alice"), {"policy_id": "p"}, r"\(policy\).*\(got both\)"),
        (("deployer", "alice"), {"subject_id": "u"}, r"\(subject\).*\(got both\)"),
        (("deployer", "alice"), {"subject_kind": ""}, "subject_kind must not be empty"),
        (("deployer", 5), {}, "subject_name must be a string"),
    ],
)
def test_attachment_errors_send_nothing(
    api: ConformanceMock,
    both: RuneClient,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        getattr(both, method)(*args, **kwargs)
    assert len(api.calls) == 0


@pytest.mark.parametrize("method", ["attach_policy", "detach_policy"])
def test_attachment_by_policy_id_is_connect_only(
    api: ConformanceMock, rest: RuneClient, method: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="REST gateway addresses a policy by name"):
        getattr(rest, method)(policy_id="pol-3", subject_name="alice")
    assert len(api.calls) == 0


# -- registries --------------------------------------------------------------------------------

REG_LIST = (("AdminService", "ListRegistries"), ("GET", "/v1/admin/registries"))
REG_GET = (("AdminService", "GetRegistry"), ("GET", "/v1/admin/registries/ghcr"))
REG_ADD = (("AdminService", "AddRegistry"), ("POST", "/v1/admin/registries"))
REG_UPDATE = (("AdminService", "UpdateRegistry"), ("PUT", "/v1/admin/registries/ghcr"))
REG_REMOVE = (("AdminService", "RemoveRegistry"), ("DELETE", "/v1/admin/registries/ghcr"))
REG_TEST = (("AdminService", "TestRegistry"), ("POST", "/v1/admin/registries/ghcr/test"))
REG_BOOTSTRAP = (("AdminService", "BootstrapAuth"), ("POST", "/v1/admin/registry-auth/bootstrap"))
REG_STATUS = (("AdminService", "RegistriesStatus"), ("GET", "/v1/admin/registry-status"))

GHCR_WIRE: dict[str, Any] = {
    "name": "ghcr",
    "registry": "ghcr.io",
    "auth": {"type": "token", "token": REGISTRY_TOKEN},
}
HARBOR_WIRE: dict[str, Any] = {
    "name": "harbor",
    "registry": "harbor.internal",
    "auth": {
        "type": "basic",
        "username": "robot",
        "password": REGISTRY_PASSWORD,
        "region": "",
        "fromSecret": "",
        "bootstrap": False,
        "manage": "",
        "immutable": False,
        "data": {},
    },
}


def ghcr() -> RegistryConfig:
    return RegistryConfig(
        name="ghcr", registry="ghcr.io", auth=RegistryAuthConfig(type="token", token=REGISTRY_TOKEN)
    )


def test_list_registries_hides_credentials_in_repr(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REG_LIST, json={"registries": [GHCR_WIRE, HARBOR_WIRE]})
    registries = both.list_registries()
    assert [(r.name, r.registry) for r in registries] == [
        ("ghcr", "ghcr.io"),
        ("harbor", "harbor.internal"),
    ]
    harbor_auth = registries[1].auth
    assert isinstance(harbor_auth, RegistryAuthConfig) and harbor_auth.username == "robot"
    assert harbor_auth.password == REGISTRY_PASSWORD  # readable on purpose...
    text = repr(registries)
    assert REGISTRY_PASSWORD not in text and REGISTRY_TOKEN not in text  # ...never shown
    sent(api, both, *REG_LIST, {}, rest_body=False)


def test_list_registries_empty_reply(api: ConformanceMock, both: RuneClient) -> None:
    # No registry configured: a nil list, `[]` in protojson (left out by older builds).
    expect(api, both, *REG_LIST, json={"registries": []})
    assert both.list_registries() == []


def test_get_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REG_GET, json={"registry": GHCR_WIRE})
    registry = both.get_registry("ghcr")
    assert isinstance(registry.auth, RegistryAuthConfig) and registry.auth.type == "token"
    sent(api, both, *REG_GET, {"name": "ghcr"}, rest_body=False)


def test_get_missing_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect_error(api, both, *REG_GET, "not_found", "registry not found")
    with pytest.raises(NotFoundError) as info:
        both.get_registry("ghcr")
    assert (info.value.status_code, info.value.code) == (404, "not_found")


def test_add_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REG_ADD, json={"registry": GHCR_WIRE})
    assert both.add_registry(ghcr()).name == "ghcr"
    sent(api, both, *REG_ADD, {"registry": GHCR_WIRE})


def test_add_registry_that_exists_is_a_conflict(
    api: ConformanceMock, both: RuneClient, debug_log: pytest.LogCaptureFixture
) -> None:
    expect_error(api, both, *REG_ADD, "already_exists", "registry name already exists")
    with pytest.raises(ConflictError) as info:
        both.add_registry(ghcr())
    assert (info.value.status_code, info.value.code) == (409, "already_exists")
    assert "registry name already exists" in str(info.value)
    assert REGISTRY_TOKEN not in str(info.value)
    assert REGISTRY_TOKEN not in debug_log.text


def test_registry_credentials_stay_out_of_logs(
    api: ConformanceMock, client: RuneClient, debug_log: pytest.LogCaptureFixture
) -> None:
    # Inline auth data is a credential source too; its values are masked whatever the key.
    registry = RegistryConfig(
        name="harbor",
        registry="harbor.internal",
        auth=RegistryAuthConfig(
            type="basic",
            username="robot",
            password=REGISTRY_PASSWORD,
            from_secret="system/harbor",
            bootstrap=True,
            data={"dockerconfig": INLINE_SECRET},
        ),
    )
    echoed = {
        "registry": {
            **HARBOR_WIRE,
            "auth": {**HARBOR_WIRE["auth"], "data": {"dockerconfig": INLINE_SECRET}},
        }
    }
    expect(api, client, *REG_ADD, json=echoed)
    client.add_registry(registry)
    body = json.loads(api.calls[0].request.body or b"")
    assert body["registry"]["auth"] == {
        "type": "basic",
        "username": "robot",
        "password": REGISTRY_PASSWORD,
        "fromSecret": "system/harbor",
        "bootstrap": True,
        "data": {"dockerconfig": INLINE_SECRET},
    }
    assert "AddRegistry" in debug_log.text and "robot" in debug_log.text
    for secret in (REGISTRY_PASSWORD, INLINE_SECRET):
        assert secret not in debug_log.text


@pytest.mark.parametrize(
    ("registry", "match"),
    [
        (
            {"name": "ghcr", "registry": "ghcr.io"},
            "registry must be a controldeck.rune RegistryConfig",
        ),
        (RegistryConfig(registry="ghcr.io"), "registry.name must be a string"),
        (RegistryConfig(name="ghcr"), "registry.registry must be a string"),
        (RegistryConfig(name="ghcr", registry=" "), "registry.registry must not be empty"),
    ],
)
def test_add_registry_bad_arguments_send_nothing(
    api: ConformanceMock, both: RuneClient, registry: Any, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        both.add_registry(registry)
    assert len(api.calls) == 0


def test_update_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REG_UPDATE, json={"registry": GHCR_WIRE})
    assert both.update_registry(ghcr()).registry == "ghcr.io"
    sent(api, both, *REG_UPDATE, {"registry": GHCR_WIRE})


def test_update_registry_keeps_the_host_when_only_the_name_is_given(
    api: ConformanceMock, client: RuneClient
) -> None:
    expect(api, client, *REG_UPDATE, json={"registry": {"name": "ghcr", "registry": ""}})
    client.update_registry(RegistryConfig(name="ghcr"))
    sent(api, client, *REG_UPDATE, {"registry": {"name": "ghcr"}})


def test_update_registry_needs_a_name(api: ConformanceMock, both: RuneClient) -> None:
    with pytest.raises(InvalidArgumentError, match=r"registry\.name"):
        both.update_registry(RegistryConfig(registry="ghcr.io"))
    assert len(api.calls) == 0


def test_remove_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REG_REMOVE, json={"deleted": True})
    assert both.remove_registry("ghcr") is True
    sent(api, both, *REG_REMOVE, {"name": "ghcr"}, rest_body=False)


def test_remove_missing_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect_error(api, both, *REG_REMOVE, "not_found", "registry not found")
    with pytest.raises(NotFoundError, match="registry not found"):
        both.remove_registry("ghcr")


@pytest.mark.parametrize(
    ("kwargs", "wire"),
    [
        ({"name": "ghcr"}, {"name": "ghcr"}),
        ({"type": "ecr"}, {"type": "ecr"}),
        ({"all": True}, {"all": True}),
    ],
)
def test_bootstrap_registry_auth(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], wire: dict[str, Any]
) -> None:
    expect(api, both, *REG_BOOTSTRAP, json={"updated": 2})
    assert both.bootstrap_registry_auth(**kwargs) == 2
    sent(api, both, *REG_BOOTSTRAP, wire)


def test_bootstrap_registry_auth_updated_none(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *REG_BOOTSTRAP, json={})
    assert client.bootstrap_registry_auth(all=True) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"exactly one of name=, type= or all=True \(got none\)"),
        ({"all": False}, r"\(got none\)"),
        ({"name": "ghcr", "all": True}, r"\(got name, all=True\)"),
        ({"name": "ghcr", "type": "ecr"}, r"\(got name, type\)"),
        ({"all": "yes"}, "all must be a bool"),
        ({"name": ""}, "name must not be empty"),
        ({"type": 1}, "type must be a string"),
    ],
)
def test_bootstrap_registry_auth_needs_one_selector(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        both.bootstrap_registry_auth(**kwargs)
    assert len(api.calls) == 0


def test_test_registry(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REG_TEST, json={"ok": True, "message": "ok"})
    result = both.test_registry("ghcr", image_ref="ghcr.io/acme/api:1.2")
    assert (result.ok, result.message) == (True, "ok")
    sent(api, both, *REG_TEST, {"name": "ghcr", "imageRef": "ghcr.io/acme/api:1.2"})


def test_test_registry_failure_is_a_reply(api: ConformanceMock, client: RuneClient) -> None:
    expect(api, client, *REG_TEST, json={"ok": False, "message": "no provider for registry"})
    result = client.test_registry("ghcr")
    assert (result.ok, result.message) == (False, "no provider for registry")
    sent(api, client, *REG_TEST, {"name": "ghcr"})


def test_registry_name_is_one_path_segment(api: ConformanceMock, rest: RuneClient) -> None:
    api.add("GET", f"{BASE_URL}/v1/admin/registries/a%2Fb%20c", json={"registry": GHCR_WIRE})
    rest.get_registry("a/b c")
    assert urlsplit(api.calls[0].request.url).path == "/v1/admin/registries/a%2Fb%20c"


@pytest.mark.parametrize("method", ["get_registry", "remove_registry", "test_registry"])
@pytest.mark.parametrize("bad", ["", None, 1])
def test_registry_name_errors_send_nothing(
    api: ConformanceMock, both: RuneClient, method: str, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="name"):
        getattr(both, method)(bad)
    assert len(api.calls) == 0


def test_registries_status(api: ConformanceMock, both: RuneClient) -> None:
    status = {
        "registries": [
            {
                "name": "ghcr",
                "registry": "ghcr.io",
                "type": "token",
                "authConfigured": True,
                "lastBootstrapAt": "",
                "lastError": "",
            }
        ]
    }
    expect(api, both, *REG_STATUS, json=status)
    (only,) = both.registries_status()
    assert (only.name, only.type, only.auth_configured, only.last_error) == (
        "ghcr",
        "token",
        True,
        "",
    )
    sent(api, both, *REG_STATUS, {}, rest_body=False)
