"""Rune auth (`AuthService`: whoami, tokens) and administration (`AdminService`: bootstrap,
users, tokens, policies, registries), reference §2 and §7.1.

Every AdminService RPC is answered only for loopback peers unless the server runs with
`auth.allow_remote_admin: true`; otherwise it fails with `permission_denied`
(`PermissionDeniedError`, the server's message kept). `admin_bootstrap()` is the one RPC
sent without a token.

Envelopes are unwrapped: `get_policy()` returns the `Policy`, `list_users()` the list of
`Subject`s, `remove_registry()` the `deleted` flag. A reply missing the promised object is
a `ResponseValidationError`; a missing list is an empty list and a missing flag `False`
(protojson may leave zero values out).

The proto has no `oneof` here, but the server reads some fields as alternatives: a policy
by name or id, a subject by name or id (the id wins on the server when both are sent). The
methods take the name form and the id form as keyword alternatives and refuse both at
once. The REST gateway addresses a policy by name in its path, so the `policy_id=` forms
are Connect only.

Secret values sent (registry passwords and tokens, inline auth data) are masked in logs
and error messages; secret values received (`AdminBootstrapResponse.token_secret`,
`CreateTokenResponse.secret`, a registry's password and token) are redacted in `repr()`
and `to_dict()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_str, require_str_list
from controldeck.errors import InvalidArgumentError
from controldeck.rune._base import Rest, RuneBase, reply_part, seg

if TYPE_CHECKING:
    from controldeck._generated import rune as models
    from controldeck._generated.rune import (
        AdminBootstrapResponse,
        CreateTokenResponse,
        Policy,
        PolicyRule,
        RegistryConfig,
        RegistryRuntimeStatus,
        Subject,
        TestRegistryResponse,
        TokenInfo,
        WhoAmIResponse,
    )
else:
    models = LazyModule("controldeck._generated.rune")

__all__ = ["AdminAPI"]

T = TypeVar("T")

ADMIN = "AdminService"
AUTH = "AuthService"

_RULE_KEYS = frozenset({"resource", "verbs", "namespace"})


def _optional_str(name: str, value: Any) -> Any:
    """`value` checked as a non-blank string, or `UNSET` when None (leave it out)."""
    return UNSET if value is None else require_str(name, value)


def _optional_list(name: str, value: Any) -> Any:
    """A list of non-blank strings (may be empty), or `UNSET` when None."""
    return UNSET if value is None else require_str_list(name, value, allow_empty=True)


def _one_of(what: str, **choices: Any) -> tuple[str, str]:
    """The one of `choices` that was given (not None), checked as a string.

    Raises:
        InvalidArgumentError: None or more than one was given.
    """
    given = [(k, v) for k, v in choices.items() if v is not None]
    names = " or ".join(f"{k}=" for k in choices)
    if len(given) != 1:
        problem = "both" if given else "neither"
        raise InvalidArgumentError(f"{what}: pass exactly one of {names} (got {problem})")
    key, value = given[0]
    return key, require_str(key, value)


def _at_most_one(what: str, **choices: Any) -> None:
    """Refuse two alternatives given together."""
    given = [k for k, v in choices.items() if v is not None]
    if len(given) > 1:
        raise InvalidArgumentError(
            f"{what}: pass at most one of {' or '.join(f'{k}=' for k in given)}"
        )


def _rule(index: int, rule: Any) -> PolicyRule:
    """A `PolicyRule` from a model or a mapping with `resource`, `verbs`, `namespace`."""
    if isinstance(rule, models.PolicyRule):
        return rule
    if not isinstance(rule, Mapping):
        raise InvalidArgumentError(
            f"rules[{index}] must be a PolicyRule or a mapping, got {type(rule).__name__}"
        )
    unknown = sorted(str(k) for k in rule if k not in _RULE_KEYS)
    if unknown:
        raise InvalidArgumentError(
            f"rules[{index}] has unknown keys {unknown} (expected resource, verbs, namespace)"
        )
    if "resource" not in rule or "verbs" not in rule:
        raise InvalidArgumentError(f"rules[{index}] needs resource and verbs")
    result: PolicyRule = models.PolicyRule(
        resource=require_str(f"rules[{index}].resource", rule["resource"]),
        verbs=require_str_list(f"rules[{index}].verbs", rule["verbs"]),
        # "" (as the server echoes an unset namespace) and "*" both mean every namespace.
        namespace=UNSET
        if rule.get("namespace") is None
        else require_str(f"rules[{index}].namespace", rule["namespace"], allow_empty=True),
    )
    return result


def _registry_secrets(registry: RegistryConfig) -> tuple[str, ...]:
    """The secret values a registry config carries (masked in logs and errors)."""
    auth = registry.auth
    if auth is None or auth is UNSET:
        return ()
    values: list[Any] = [auth.password, auth.token]
    data = auth.data
    if isinstance(data, Mapping):
        values.extend(data.values())
    return tuple(v for v in values if isinstance(v, str) and v)


class AdminAPI(RuneBase):
    """Rune auth (whoami, tokens) and admin (bootstrap, users, policies, registries)."""

    # -- bootstrap and AuthService ----------------------------------------------------------------

    def admin_bootstrap(self, **options: Unpack[CallOptions]) -> AdminBootstrapResponse:
        """Create (or reuse) the `root` user with the `root` policy and issue it a
        non-expiring token (`AdminService/AdminBootstrap`). Sent without a token.

        The token secret is shown once: keep it (`RUNE_TOKEN`) and hand it to the client
        with `set_token()`. It is redacted in `repr()` and never logged. Servers of
        snapshot 413bfe0 do not refuse a second call (each issues another root token);
        the docs say a second call fails. Loopback peers only unless the server allows
        remote admin.

        Returns:
            `token_id`, `token_secret` (secret) and `subject_id` (the root user).

        Raises:
            PermissionDeniedError: Not called from the server's host (`permission_denied`).

        Example:
            >>> boot = rune.admin_bootstrap()
            >>> rune.set_token(boot.token_secret)
            >>> rune.whoami().subject_name
            'root'
        """
        return self._rpc(
            ADMIN,
            "AdminBootstrap",
            models.AdminBootstrapRequest(),
            models.AdminBootstrapResponse,
            rest=Rest("POST", "/v1/admin/bootstrap", body=True),
            auth=False,
            **options,
        )

    def whoami(self, **options: Unpack[CallOptions]) -> WhoAmIResponse:
        """Who the client's token belongs to (`AuthService/WhoAmI`).

        Returns:
            `subject_id`, `subject_name`, `subject_email` and the subject's `policies`
            (names). A token of an unknown subject type answers with the id only.

        Raises:
            AuthenticationError: The token is missing, unknown, revoked or expired.

        Example:
            >>> me = rune.whoami()
            >>> me.subject_name, me.policies
            ('root', ['root'])
        """
        return self._rpc(
            AUTH,
            "WhoAmI",
            models.WhoAmIRequest(),
            models.WhoAmIResponse,
            rest=Rest("GET", "/v1/auth/whoami"),
            read=True,
            **options,
        )

    def create_token(
        self,
        name: str,
        *,
        subject_name: str | None = None,
        subject_id: str | None = None,
        policies: Iterable[str] | None = None,
        ttl_seconds: int | None = None,
        description: str | None = None,
        subject_type: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CreateTokenResponse:
        """Issue a token (`AuthService/CreateToken`).

        The subject is a user named `subject_name` or with id `subject_id` (at most one;
        neither: the user named like the token). A user that does not exist is created
        with `policies` (or `readonly` when none are given); `policies` do nothing for an
        existing user.

        Args:
            name: The token's name.
            subject_name: The user the token is for, by name.
            subject_id: The user the token is for, by id.
            policies: Policy names for a user created by this call.
            ttl_seconds: Lifetime in seconds; 0 or None: never expires.
            description: Free text kept with the token.
            subject_type: `"user"` (the server's default and the only type it accepts).

        Returns:
            `id`, `name` and `secret` (shown once; redacted in `repr()`).

        Raises:
            InvalidArgumentError: Both subject forms, an empty name, or a negative TTL.
            InternalServerError: The server refused the request (it reports validation
                errors such as an unknown subject type as `unknown`, HTTP 500).

        Example:
            >>> token = rune.create_token("ci", subject_name="ci-bot", ttl_seconds=3600)
            >>> ci = rune.copy(token=token.secret)
        """
        _at_most_one("create_token", subject_name=subject_name, subject_id=subject_id)
        if ttl_seconds is not None and (
            isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 0
        ):
            raise InvalidArgumentError(
                f"ttl_seconds must be a non-negative int (0: never expires), got {ttl_seconds!r}"
            )
        request = models.CreateTokenRequest(
            name=require_str("name", name),
            subject_name=_optional_str("subject_name", subject_name),
            subject_id=_optional_str("subject_id", subject_id),
            subject_type=_optional_str("subject_type", subject_type),
            policies=_optional_list("policies", policies),
            ttl_seconds=UNSET if ttl_seconds is None else ttl_seconds,
            description=UNSET
            if description is None
            else require_str("description", description, allow_empty=True),
        )
        return self._rpc(
            AUTH,
            "CreateToken",
            request,
            models.CreateTokenResponse,
            rest=Rest("POST", "/v1/auth/tokens", body=True),
            **options,
        )

    def revoke_token(self, token_id: str, **options: Unpack[CallOptions]) -> bool:
        """Revoke a token by its id (`AuthService/RevokeToken`); its secret stops working.

        Args:
            token_id: The token's id (`CreateTokenResponse.id`, `TokenInfo.id`), not its
                secret.

        Returns:
            Whether the server revoked it (`revoked`).

        Example:
            >>> rune.revoke_token(token.id)
            True
        """
        tid = require_str("token_id", token_id)
        reply = self._rpc(
            AUTH,
            "RevokeToken",
            models.RevokeTokenRequest(id=tid),
            models.RevokeTokenResponse,
            rest=Rest("DELETE", f"/v1/auth/tokens/{seg(tid)}"),
            **options,
        )
        return reply.revoked is True

    # -- users and tokens -------------------------------------------------------------------

    def list_tokens(self, **options: Unpack[CallOptions]) -> list[TokenInfo]:
        """Every token, without secrets (`AdminService/TokenList`).

        Returns:
            `TokenInfo`s; `issued_at` and `expires_at` are Unix seconds as `int`
            (`expires_at` 0: never expires).

        Example:
            >>> [t.name for t in rune.list_tokens() if not t.revoked]
            ['bootstrap-admin-1730937600000000000', 'ci']
        """
        reply = self._rpc(
            ADMIN,
            "TokenList",
            models.TokenListRequest(),
            models.TokenListResponse,
            rest=Rest("GET", "/v1/admin/tokens"),
            read=True,
            **options,
        )
        return list(reply.tokens or [])

    def create_user(
        self,
        name: str,
        *,
        email: str | None = None,
        policies: Iterable[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Subject:
        """Create a user, or add `policies` to (and set the email of) an existing one
        (`AdminService/UserCreate`; the server upserts).

        Args:
            name: The user's name.
            email: The user's email.
            policies: Policy names to attach (added to those it has).

        Returns:
            The user (`Subject`, kind `user`).

        Example:
            >>> rune.create_user("alice", email="alice@example.org", policies=["readonly"])
            Subject(id='u-2', kind='user', name='alice', ...)
        """
        request = models.UserCreateRequest(
            name=require_str("name", name),
            email=_optional_str("email", email),
            policies=_optional_list("policies", policies),
        )
        reply = self._rpc(
            ADMIN,
            "UserCreate",
            request,
            models.UserCreateResponse,
            rest=Rest("POST", "/v1/admin/users", body=True),
            **options,
        )
        return reply_part(reply.user, "UserCreate", "user")

    def list_users(self, **options: Unpack[CallOptions]) -> list[Subject]:
        """Every user (`AdminService/UserList`).

        Example:
            >>> {u.name: u.policies for u in rune.list_users()}
            {'root': ['root'], 'alice': ['readonly']}
        """
        reply = self._rpc(
            ADMIN,
            "UserList",
            models.UserListRequest(),
            models.UserListResponse,
            rest=Rest("GET", "/v1/admin/users"),
            read=True,
            **options,
        )
        return list(reply.users or [])

    # -- policies ---------------------------------------------------------------------------

    def create_policy(
        self,
        name: str,
        rules: Iterable[PolicyRule | Mapping[str, Any]],
        *,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Policy:
        """Create a policy, or replace the rules of the one with that name
        (`AdminService/PolicyCreate`; the server upserts).

        Args:
            name: The policy's name.
            rules: `PolicyRule`s, or mappings with `resource` (`services`, `secrets`, ...,
                `*`), `verbs` (`get`, `list`, `create`, ..., `*`) and optionally
                `namespace` (`*`: all).
            description: Free text.

        Returns:
            The policy as the server echoes it.

        Raises:
            InvalidArgumentError: A rule without resource or verbs, or with other keys.

        Example:
            >>> rule = {"resource": "services", "verbs": ["get", "scale"], "namespace": "prod"}
            >>> rune.create_policy("deployer", [rule]).name
            'deployer'
        """
        if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
            raise InvalidArgumentError(
                f"rules must be a list of PolicyRule or mappings, got {type(rules).__name__}"
            )
        policy = models.Policy(
            name=require_str("name", name),
            description=UNSET
            if description is None
            else require_str("description", description, allow_empty=True),
            rules=[_rule(i, rule) for i, rule in enumerate(rules)],
        )
        reply = self._rpc(
            ADMIN,
            "PolicyCreate",
            models.PolicyCreateRequest(policy=policy),
            models.PolicyCreateResponse,
            rest=Rest("POST", "/v1/admin/policies", body=True),
            **options,
        )
        return reply_part(reply.policy, "PolicyCreate", "policy")

    def update_policy(self, policy: Policy, **options: Unpack[CallOptions]) -> Policy:
        """Replace a policy's description and rules (`AdminService/PolicyUpdate`); the
        policy is found by `policy.name`.

        Args:
            policy: The whole policy (e.g. from `get_policy()`, modified).

        Returns:
            The policy as the server echoes it.

        Raises:
            InvalidArgumentError: Not a `Policy`, or one without a name.

        Example:
            >>> p = rune.get_policy("deployer")
            >>> p.description = "CI deploys"
            >>> rune.update_policy(p).description
            'CI deploys'
        """
        if not isinstance(policy, models.Policy):
            raise InvalidArgumentError(
                f"policy must be a controldeck.rune Policy, got {type(policy).__name__}"
            )
        name = require_str("policy.name", policy.name)
        reply = self._rpc(
            ADMIN,
            "PolicyUpdate",
            models.PolicyUpdateRequest(policy=policy),
            models.PolicyUpdateResponse,
            rest=Rest("PUT", f"/v1/admin/policies/{seg(name)}", body=True),
            **options,
        )
        return reply_part(reply.policy, "PolicyUpdate", "policy")

    def delete_policy(
        self,
        name: str | None = None,
        *,
        policy_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> bool:
        """Delete a policy by name, or by id (Connect only) (`AdminService/PolicyDelete`).

        Args:
            name: The policy's name.
            policy_id: The policy's id instead of its name.

        Returns:
            Whether the server deleted it (`deleted`).

        Raises:
            InvalidArgumentError: Both or neither of name and policy_id; policy_id on REST.

        Example:
            >>> rune.delete_policy("deployer")
            True
        """
        key, value = self._policy_key("delete_policy", name, policy_id)
        reply = self._rpc(
            ADMIN,
            "PolicyDelete",
            models.PolicyDeleteRequest(**{key: value}),
            models.PolicyDeleteResponse,
            rest=Rest("DELETE", f"/v1/admin/policies/{seg(value)}"),
            **options,
        )
        return reply.deleted is True

    def get_policy(
        self,
        name: str | None = None,
        *,
        policy_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Policy:
        """One policy by name, or by id (Connect only) (`AdminService/PolicyGet`).

        Args:
            name: The policy's name.
            policy_id: The policy's id instead of its name.

        Raises:
            InvalidArgumentError: Both or neither of name and policy_id; policy_id on REST.
            InternalServerError: No such policy (the server reports a store error as
                `unknown`, not `not_found`).

        Example:
            >>> [(r.resource, r.verbs) for r in rune.get_policy("readonly").rules]
            [('*', ['get', 'list'])]
        """
        key, value = self._policy_key("get_policy", name, policy_id)
        reply = self._rpc(
            ADMIN,
            "PolicyGet",
            models.PolicyGetRequest(**{key: value}),
            models.PolicyGetResponse,
            rest=Rest("GET", f"/v1/admin/policies/{seg(value)}"),
            read=True,
            **options,
        )
        return reply_part(reply.policy, "PolicyGet", "policy")

    def list_policies(self, **options: Unpack[CallOptions]) -> list[Policy]:
        """Every policy, built-in ones (`root`, `admin`, `readwrite`, `readonly`) included
        (`AdminService/PolicyList`).

        Example:
            >>> sorted(p.name for p in rune.list_policies() if p.builtin)
            ['admin', 'readonly', 'readwrite', 'root']
        """
        reply = self._rpc(
            ADMIN,
            "PolicyList",
            models.PolicyListRequest(),
            models.PolicyListResponse,
            rest=Rest("GET", "/v1/admin/policies"),
            read=True,
            **options,
        )
        return list(reply.policies or [])

    def attach_policy(
        self,
        policy_name: str | None = None,
        subject_name: str | None = None,
        *,
        subject_kind: str = "user",
        policy_id: str | None = None,
        subject_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> bool:
        """Give a subject a policy (`AdminService/PolicyAttachToSubject`).

        Args:
            policy_name: The policy, by name.
            subject_name: The subject, by name.
            subject_kind: `"user"` (the only kind the server handles).
            policy_id: The policy by id instead (Connect only).
            subject_id: The subject by id instead.

        Returns:
            Whether it was attached (`attached`; attaching twice is not an error).

        Raises:
            InvalidArgumentError: Both or neither form of the policy or of the subject.

        Example:
            >>> rune.attach_policy("deployer", "alice")
            True
        """
        fields, path = self._attachment(
            "attach_policy", policy_name, policy_id, subject_name, subject_id
        )
        reply = self._rpc(
            ADMIN,
            "PolicyAttachToSubject",
            models.PolicyAttachToSubjectRequest(
                **fields, subject_kind=require_str("subject_kind", subject_kind)
            ),
            models.PolicyAttachToSubjectResponse,
            rest=Rest("POST", f"{path}/attach", body=True),
            **options,
        )
        return reply.attached is True

    def detach_policy(
        self,
        policy_name: str | None = None,
        subject_name: str | None = None,
        *,
        subject_kind: str = "user",
        policy_id: str | None = None,
        subject_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> bool:
        """Take a policy from a subject (`AdminService/PolicyDetachFromSubject`).

        Args:
            policy_name: The policy, by name.
            subject_name: The subject, by name.
            subject_kind: `"user"` (the only kind the server handles).
            policy_id: The policy by id instead (Connect only).
            subject_id: The subject by id instead.

        Returns:
            Whether it was detached (`detached`; true also when it was not attached).

        Raises:
            InvalidArgumentError: Both or neither form of the policy or of the subject.

        Example:
            >>> rune.detach_policy("deployer", "alice")
            True
        """
        fields, path = self._attachment(
            "detach_policy", policy_name, policy_id, subject_name, subject_id
        )
        reply = self._rpc(
            ADMIN,
            "PolicyDetachFromSubject",
            models.PolicyDetachFromSubjectRequest(
                **fields, subject_kind=require_str("subject_kind", subject_kind)
            ),
            models.PolicyDetachFromSubjectResponse,
            rest=Rest("POST", f"{path}/detach", body=True),
            **options,
        )
        return reply.detached is True

    def _policy_key(self, what: str, name: Any, policy_id: Any) -> tuple[str, str]:
        """Which of a policy's name or id was given (`name` or `id`), and its value."""
        key, value = _one_of(what, name=name, policy_id=policy_id)
        if key == "policy_id":
            self._connect_only(what)
            return "id", value
        return "name", value

    def _attachment(
        self, what: str, policy_name: Any, policy_id: Any, subject_name: Any, subject_id: Any
    ) -> tuple[dict[str, str], str]:
        """The policy and subject fields of an attach/detach request (one form of each),
        and the REST path of the policy (named: REST has no id form)."""
        pkey, policy = _one_of(f"{what} (policy)", policy_name=policy_name, policy_id=policy_id)
        skey, subject = _one_of(
            f"{what} (subject)", subject_name=subject_name, subject_id=subject_id
        )
        if pkey == "policy_id":
            self._connect_only(what)
            return {pkey: policy, skey: subject}, ""
        return {pkey: policy, skey: subject}, f"/v1/admin/policies/{seg(policy)}"

    def _connect_only(self, what: str) -> None:
        if self.transport != "connect":
            raise InvalidArgumentError(
                f"{what}: the REST gateway addresses a policy by name in its path; pass the "
                "policy's name, or use RuneClient(..., transport='connect') for policy_id="
            )

    # -- registries -------------------------------------------------------------------------

    def list_registries(self, **options: Unpack[CallOptions]) -> list[RegistryConfig]:
        """The configured image registries (`AdminService/ListRegistries`).

        Returns:
            `RegistryConfig`s; passwords and tokens are redacted in `repr()`.

        Example:
            >>> [(r.name, r.registry) for r in rune.list_registries()]
            [('ghcr', 'ghcr.io')]
        """
        reply = self._rpc(
            ADMIN,
            "ListRegistries",
            models.ListRegistriesRequest(),
            models.ListRegistriesResponse,
            rest=Rest("GET", "/v1/admin/registries"),
            read=True,
            **options,
        )
        return list(reply.registries or [])

    def get_registry(self, name: str, **options: Unpack[CallOptions]) -> RegistryConfig:
        """One registry configuration by name (`AdminService/GetRegistry`).

        Raises:
            NotFoundError: No registry has that name.

        Example:
            >>> rune.get_registry("ghcr").auth.type
            'token'
        """
        rname = require_str("name", name)
        reply = self._rpc(
            ADMIN,
            "GetRegistry",
            models.GetRegistryRequest(name=rname),
            models.GetRegistryResponse,
            rest=Rest("GET", f"/v1/admin/registries/{seg(rname)}"),
            read=True,
            **options,
        )
        return reply_part(reply.registry, "GetRegistry", "registry")

    def add_registry(
        self, registry: RegistryConfig, **options: Unpack[CallOptions]
    ) -> RegistryConfig:
        """Add an image registry configuration (`AdminService/AddRegistry`).

        Args:
            registry: `name` and `registry` (host or wildcard) are required; `auth` as
                needed. Its password, token and inline data are masked in logs.

        Returns:
            The configuration as the server echoes it.

        Raises:
            InvalidArgumentError: Not a `RegistryConfig`, or without name or registry.
            ConflictError: A registry with that name exists (`already_exists`).

        Example:
            >>> from controldeck._generated.rune import RegistryAuthConfig, RegistryConfig
            >>> rune.add_registry(
            ...     RegistryConfig(
            ...         name="ghcr",
            ...         registry="ghcr.io",
            ...         auth=RegistryAuthConfig(type="token", token=os.environ["GHCR_TOKEN"]),
            ...     )
            ... ).name
            'ghcr'
        """
        self._registry_name(registry)
        require_str("registry.registry", registry.registry)
        reply = self._rpc(
            ADMIN,
            "AddRegistry",
            models.AddRegistryRequest(registry=registry),
            models.AddRegistryResponse,
            rest=Rest("POST", "/v1/admin/registries", body=True),
            secrets=_registry_secrets(registry),
            **options,
        )
        return reply_part(reply.registry, "AddRegistry", "registry")

    def update_registry(
        self, registry: RegistryConfig, **options: Unpack[CallOptions]
    ) -> RegistryConfig:
        """Replace a registry configuration, found by `registry.name`
        (`AdminService/UpdateRegistry`). An empty `registry` keeps the host; no `auth`
        keeps the stored auth.

        Returns:
            The configuration as the server echoes it.

        Raises:
            InvalidArgumentError: Not a `RegistryConfig`, or without a name.
            NotFoundError: No registry has that name.

        Example:
            >>> reg = rune.get_registry("ghcr")
            >>> reg.auth.token = new_token
            >>> rune.update_registry(reg).name
            'ghcr'
        """
        name = self._registry_name(registry)
        reply = self._rpc(
            ADMIN,
            "UpdateRegistry",
            models.UpdateRegistryRequest(registry=registry),
            models.UpdateRegistryResponse,
            rest=Rest("PUT", f"/v1/admin/registries/{seg(name)}", body=True),
            secrets=_registry_secrets(registry),
            **options,
        )
        return reply_part(reply.registry, "UpdateRegistry", "registry")

    def remove_registry(self, name: str, **options: Unpack[CallOptions]) -> bool:
        """Remove a registry configuration (`AdminService/RemoveRegistry`).

        Returns:
            Whether it was removed (`deleted`).

        Raises:
            NotFoundError: No registry has that name.

        Example:
            >>> rune.remove_registry("ghcr")
            True
        """
        rname = require_str("name", name)
        reply = self._rpc(
            ADMIN,
            "RemoveRegistry",
            models.RemoveRegistryRequest(name=rname),
            models.RemoveRegistryResponse,
            rest=Rest("DELETE", f"/v1/admin/registries/{seg(rname)}"),
            **options,
        )
        return reply.deleted is True

    def bootstrap_registry_auth(
        self,
        *,
        name: str | None = None,
        type: str | None = None,
        all: bool = False,
        **options: Unpack[CallOptions],
    ) -> int:
        """Resolve registry credentials from their secrets (creating secrets from inline
        data where `bootstrap` is set) (`AdminService/BootstrapAuth`).

        Pass exactly one selector.

        Args:
            name: One registry, by name.
            type: Every registry of an auth type (`ecr`, `basic`, `token`, ...).
            all: Every registry.

        Returns:
            How many registries were updated.

        Raises:
            InvalidArgumentError: No selector, or more than one.

        Example:
            >>> rune.bootstrap_registry_auth(all=True)
            2
        """
        if not isinstance(all, bool):
            raise InvalidArgumentError(f"all must be a bool, got {type_name(all)}")
        given = [k for k, v in (("name", name), ("type", type)) if v is not None]
        given += ["all=True"] if all else []
        if len(given) != 1:
            raise InvalidArgumentError(
                "bootstrap_registry_auth: pass exactly one of name=, type= or all=True"
                f" (got {', '.join(given) or 'none'})"
            )
        request = models.BootstrapAuthRequest(
            name=_optional_str("name", name),
            type=_optional_str("type", type),
            all=True if all else UNSET,
        )
        reply = self._rpc(
            ADMIN,
            "BootstrapAuth",
            request,
            models.BootstrapAuthResponse,
            rest=Rest("POST", "/v1/admin/registry-auth/bootstrap", body=True),
            **options,
        )
        return int(reply.updated or 0)

    def test_registry(
        self,
        name: str,
        *,
        image_ref: str | None = None,
        **options: Unpack[CallOptions],
    ) -> TestRegistryResponse:
        """Check that a registry's credentials resolve (`AdminService/TestRegistry`).

        A failed check is a reply (`ok` False and the reason), not an error.

        Args:
            name: The registry's name.
            image_ref: An image to resolve credentials for (e.g. `ghcr.io/org/app:1`).

        Returns:
            `ok` and `message`.

        Raises:
            NotFoundError: No registry has that name.

        Example:
            >>> result = rune.test_registry("ghcr", image_ref="ghcr.io/acme/api:1.2")
            >>> result.ok, result.message
            (True, 'ok')
        """
        rname = require_str("name", name)
        request = models.TestRegistryRequest(
            name=rname, image_ref=_optional_str("image_ref", image_ref)
        )
        # Only resolves credentials: safe to repeat, so retried like a read.
        return self._rpc(
            ADMIN,
            "TestRegistry",
            request,
            models.TestRegistryResponse,
            rest=Rest("POST", f"/v1/admin/registries/{seg(rname)}/test", body=True),
            read=True,
            **options,
        )

    def registries_status(self, **options: Unpack[CallOptions]) -> list[RegistryRuntimeStatus]:
        """Each registry's auth state (`AdminService/RegistriesStatus`).

        Returns:
            `RegistryRuntimeStatus`es: `name`, `registry`, `type`, `auth_configured`,
            `last_bootstrap_at` (RFC 3339 or empty), `last_error`.

        Example:
            >>> {s.name: s.auth_configured for s in rune.registries_status()}
            {'ghcr': True}
        """
        reply = self._rpc(
            ADMIN,
            "RegistriesStatus",
            models.RegistriesStatusRequest(),
            models.RegistriesStatusResponse,
            rest=Rest("GET", "/v1/admin/registry-status"),
            read=True,
            **options,
        )
        return list(reply.registries or [])

    def _registry_name(self, registry: Any) -> str:
        if not isinstance(registry, models.RegistryConfig):
            raise InvalidArgumentError(
                f"registry must be a controldeck.rune RegistryConfig, got {type_name(registry)}"
            )
        return require_str("registry.name", registry.name)


def type_name(value: Any) -> str:
    return type(value).__name__
