"""An organization's configuration (`client.organization(org_id)`).

Only the TypeScript SDK wraps these routes (reference §8.5); the rules follow it: a list
of an unknown organization is empty, anything else answers 404 with `NotFoundError`.
Secret values are write-only: they are masked in log lines and error messages, and the
server never returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_bool, require_str, require_str_list
from controldeck.akribes._base import Resource, segment
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        McpConfigRow,
        OrgMcpConfigInput,
        OrgMcpConfigUpdate,
        OrgModelPolicy,
        OrgSecretMeta,
        OrgSecretSaveResult,
        OrgSpendCap,
        OrgUsage,
        OrgUserUsage,
    )
    from controldeck.akribes._client import AkribesClient
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["OrganizationClient"]

T = TypeVar("T")

Day = str | date


def _period(start: Day | None, end: Day | None) -> dict[str, str | None]:
    """The `from`/`to` query of the usage routes (passed through; dates as ISO 8601)."""
    params: dict[str, str | None] = {}
    for key, value in (("from", start), ("to", end)):
        if value is None or (isinstance(value, str) and value.strip()):
            params[key] = value
        elif isinstance(value, date):
            params[key] = value.isoformat()
        else:
            raise InvalidArgumentError(
                f"{key} must be a date, a datetime or an ISO 8601 string, got {value!r:.40}"
            )
    return params


class OrganizationClient(Resource):
    """One organization's MCP configs, secrets vault, model policy, spend cap and usage.

    The organization's settings are inherited by its projects (MCP servers resolve
    `script > project > organization > environment`).

    Args:
        client: The client to call through.
        org_id: The organization.

    Raises:
        InvalidArgumentError: `org_id` is not an int >= 0.

    Example:
        >>> org = client.organization(3)
        >>> org.set_spend_cap(250.0).spent_usd
        12.5
    """

    def __init__(self, client: AkribesClient, org_id: int) -> None:
        super().__init__(client)
        if not isinstance(org_id, int) or isinstance(org_id, bool) or org_id < 0:
            raise InvalidArgumentError(
                f"org_id must be an organization id (an int >= 0), got {org_id!r:.40}"
            )
        self.org_id = org_id

    def _path(self, *segments: str) -> str:
        """`/organizations/{org_id}/<segments>`; each segment must already be encoded."""
        return "/".join((f"/organizations/{self.org_id}", *segments))

    def _get_list(self, path: str, item: type[T], **options: Unpack[CallOptions]) -> list[T]:
        """An unpaged list; empty when the server answers 404."""
        items: Any = list[item]  # type: ignore[valid-type]  # a runtime alias: list[McpConfigRow]
        try:
            result: list[T] = self._client._get(path, items, **options)
        except NotFoundError:
            return []
        return result

    # -- MCP configs ---------------------------------------------------------------------------

    def list_mcp_configs(self, **options: Unpack[CallOptions]) -> list[McpConfigRow]:
        """The organization's MCP server configs (their credentials are never returned).

        Returns:
            The configs; empty when the organization does not exist.

        Example:
            >>> [c.alias for c in client.organization(3).list_mcp_configs()]
            ['github']
        """
        return self._get_list(self._path("mcp", "configs"), models.McpConfigRow, **options)

    def create_mcp_config(
        self, config: OrgMcpConfigInput, **options: Unpack[CallOptions]
    ) -> McpConfigRow:
        """Add an MCP server config, or an override of one, for every project.

        Args:
            config: The config: `alias`, and what to set (`url`, `auth_kind`,
                `auth_secret` or `auth_secret_ref`...); unset fields are left out.

        Returns:
            The stored config (`auth_configured` says whether a credential is kept).

        Raises:
            InvalidArgumentError: `config` is not an `OrgMcpConfigInput`.
            NotFoundError: No such organization.

        Example:
            >>> org.create_mcp_config(OrgMcpConfigInput(
            ...     alias="github", url="https://mcp.github.example", auth_kind="bearer",
            ...     auth_secret_ref="GITHUB_TOKEN",
            ... )).auth_configured
            True
        """
        if not isinstance(config, models.OrgMcpConfigInput):
            raise InvalidArgumentError(
                f"config must be an OrgMcpConfigInput, got {type(config).__name__}"
            )
        return self._client._call(
            "POST",
            self._path("mcp", "configs"),
            models.McpConfigRow,
            json=config,
            secrets=_secret(config.auth_secret),
            **options,
        )

    def update_mcp_config(
        self, alias: str, changes: OrgMcpConfigUpdate, **options: Unpack[CallOptions]
    ) -> McpConfigRow:
        """Change an MCP server config; unset fields keep their stored values.

        Args:
            alias: The config's alias.
            changes: What to change (`clear_secret=True` removes the stored credential).

        Returns:
            The stored config.

        Raises:
            InvalidArgumentError: An empty alias, or `changes` is not an
                `OrgMcpConfigUpdate`.
            NotFoundError: No such organization or config.

        Example:
            >>> org.update_mcp_config("github", OrgMcpConfigUpdate(timeout_secs=30))
        """
        path = self._path("mcp", "configs", segment("alias", alias))
        if not isinstance(changes, models.OrgMcpConfigUpdate):
            raise InvalidArgumentError(
                f"changes must be an OrgMcpConfigUpdate, got {type(changes).__name__}"
            )
        return self._client._call(
            "PATCH",
            path,
            models.McpConfigRow,
            json=changes,
            secrets=_secret(changes.auth_secret),
            **options,
        )

    def delete_mcp_config(self, alias: str, **options: Unpack[CallOptions]) -> None:
        """Remove an MCP server config.

        Args:
            alias: The config's alias.

        Raises:
            InvalidArgumentError: An empty alias.
            NotFoundError: No such organization or config.

        Example:
            >>> org.delete_mcp_config("github")
        """
        self._client._delete(self._path("mcp", "configs", segment("alias", alias)), **options)

    # -- secrets ------------------------------------------------------------------------------

    def list_secrets(self, **options: Unpack[CallOptions]) -> list[OrgSecretMeta]:
        """The vault's secrets: names and metadata, never values.

        Returns:
            The secrets; empty when the organization does not exist.

        Example:
            >>> [s.name for s in org.list_secrets()]
            ['OPENAI_API_KEY']
        """
        return self._get_list(self._path("secrets"), models.OrgSecretMeta, **options)

    def create_secret(
        self,
        name: str,
        value: str,
        *,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> OrgSecretSaveResult:
        """Store a new named secret (scripts refer to it as `{NAME}`).

        Args:
            name: The secret's name.
            value: The secret (write-only; masked in logs and errors).
            description: What it is for.

        Returns:
            Its metadata; `probe` says whether a recognised provider key was accepted.

        Raises:
            InvalidArgumentError: An empty name or value.
            ConflictError: A secret with this name exists (use `rotate_secret`).

        Example:
            >>> org.create_secret("OPENAI_API_KEY", "sk-...").probe.status
            'verified'
        """
        body = models.CreateOrgSecretRequest(
            name=require_str("name", name),
            value=require_str("value", value),
            description=_optional_text("description", description),
        )
        return self._client._call(
            "POST",
            self._path("secrets"),
            models.OrgSecretSaveResult,
            json=body,
            secrets=(value,),
            **options,
        )

    def rotate_secret(
        self,
        name: str,
        value: str,
        *,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> OrgSecretSaveResult:
        """Replace a secret's value (and its description, when given).

        Args:
            name: The secret's name.
            value: The new value (write-only; masked in logs and errors).
            description: A new description; None keeps the stored one.

        Returns:
            Its metadata and probe outcome.

        Raises:
            InvalidArgumentError: An empty name or value.
            NotFoundError: No such secret.

        Example:
            >>> org.rotate_secret("OPENAI_API_KEY", "sk-new...").updated_at
        """
        path = self._path("secrets", segment("name", name))
        body = models.RotateOrgSecretRequest(
            value=require_str("value", value),
            description=_optional_text("description", description),
        )
        return self._client._call(
            "PUT", path, models.OrgSecretSaveResult, json=body, secrets=(value,), **options
        )

    def set_secret_script_usable(
        self, name: str, script_usable: bool, **options: Unpack[CallOptions]
    ) -> OrgSecretMeta:
        """Allow or forbid scripts to read a secret, without changing its value.

        Args:
            name: The secret's name.
            script_usable: Whether a script's `secret NAME` may resolve it.

        Returns:
            Its metadata.

        Raises:
            InvalidArgumentError: An empty name, or `script_usable` is not a bool.
            NotFoundError: No such secret.

        Example:
            >>> org.set_secret_script_usable("SLACK_WEBHOOK", True).script_usable
            True
        """
        path = self._path("secrets", segment("name", name))
        require_bool("script_usable", script_usable)
        body = models.SecretScriptUsableRequest(script_usable=script_usable)
        return self._client._patch(path, models.OrgSecretMeta, json=body, **options)

    def delete_secret(self, name: str, **options: Unpack[CallOptions]) -> None:
        """Delete a secret.

        Args:
            name: The secret's name.

        Raises:
            InvalidArgumentError: An empty name.
            NotFoundError: No such secret.

        Example:
            >>> org.delete_secret("OLD_KEY")
        """
        self._client._delete(self._path("secrets", segment("name", name)), **options)

    # -- model policy and spend cap -----------------------------------------------------------

    def get_model_policy(self, **options: Unpack[CallOptions]) -> OrgModelPolicy:
        """The default model and the allowlist of models.

        Raises:
            NotFoundError: No such organization.

        Example:
            >>> org.get_model_policy().default_model
            'anthropic.claude-opus-4-7'
        """
        return self._client._get(self._path("model-policy"), models.OrgModelPolicy, **options)

    def set_model_policy(
        self,
        model_allowlist: Sequence[str],
        *,
        default_model: str | None = None,
        **options: Unpack[CallOptions],
    ) -> OrgModelPolicy:
        """Replace the model policy.

        Args:
            model_allowlist: Provider-namespaced model aliases allowed (empty: any).
            default_model: The model of scripts that name none; None clears it (the
                policy is replaced whole, so it is always sent).

        Returns:
            The stored policy.

        Raises:
            InvalidArgumentError: The allowlist is not a list of non-empty strings, or an
                empty default model.

        Example:
            >>> org.set_model_policy(["anthropic.claude-opus-4-7"],
            ...                      default_model="anthropic.claude-opus-4-7")
        """
        body = models.ModelPolicyRequest(
            model_allowlist=require_str_list("model_allowlist", model_allowlist, allow_empty=True),
            default_model=(
                None if default_model is None else require_str("default_model", default_model)
            ),
        )
        return self._client._put(
            self._path("model-policy"), models.OrgModelPolicy, json=body, **options
        )

    def get_spend_cap(self, **options: Unpack[CallOptions]) -> OrgSpendCap:
        """The spend cap and what was spent in the current period.

        Raises:
            NotFoundError: No such organization.

        Example:
            >>> org.get_spend_cap().spent_usd
            12.5
        """
        return self._client._get(self._path("spend-cap"), models.OrgSpendCap, **options)

    def set_spend_cap(
        self,
        spend_cap_usd: float | None,
        *,
        period_start: datetime | None = None,
        **options: Unpack[CallOptions],
    ) -> OrgSpendCap:
        """Set the spend cap per period, or remove it.

        Args:
            spend_cap_usd: USD per period (>= 0), or None for no cap.
            period_start: When the current period starts; None leaves it to the server.

        Returns:
            The cap and the current period's spend.

        Raises:
            InvalidArgumentError: A negative or non-numeric cap, or a period start that
                is not a timezone-aware datetime.

        Example:
            >>> org.set_spend_cap(250.0).spend_cap_usd
            250.0
        """
        if spend_cap_usd is not None and (
            isinstance(spend_cap_usd, bool)
            or not isinstance(spend_cap_usd, int | float)
            or not 0 <= spend_cap_usd < float("inf")
        ):
            raise InvalidArgumentError(
                f"spend_cap_usd must be a number >= 0 or None, got {spend_cap_usd!r:.40}"
            )
        if period_start is not None and (
            not isinstance(period_start, datetime) or period_start.utcoffset() is None
        ):
            raise InvalidArgumentError(
                f"period_start must be a timezone-aware datetime, got {period_start!r:.60}"
            )
        body = models.SpendCapRequest(
            spend_cap_usd=None if spend_cap_usd is None else float(spend_cap_usd),
            spend_period_start=UNSET if period_start is None else period_start,
        )
        return self._client._put(self._path("spend-cap"), models.OrgSpendCap, json=body, **options)

    # -- usage --------------------------------------------------------------------------------

    def get_usage(
        self,
        *,
        start: Day | None = None,
        end: Day | None = None,
        **options: Unpack[CallOptions],
    ) -> OrgUsage:
        """Spend and runs over `[start, end)`: totals, by project, script and user, per day.

        Args:
            start: The first day (a date, datetime or ISO 8601 string); None: all time.
            end: The day after the last; None: up to now.

        Returns:
            The usage, and the organization's limits and current load.

        Raises:
            InvalidArgumentError: A bound that is not a date or a non-empty string.
            NotFoundError: No such organization.

        Example:
            >>> org.get_usage(start=date(2026, 1, 1)).total_cost_usd
            81.25
        """
        params = _period(start, end)
        return self._client._get(self._path("usage"), models.OrgUsage, params=params, **options)

    def get_user_usage(
        self,
        email: str,
        *,
        start: Day | None = None,
        end: Day | None = None,
        **options: Unpack[CallOptions],
    ) -> OrgUserUsage:
        """One member's spend and runs over `[start, end)`.

        Args:
            email: The member's email.
            start: The first day (a date, datetime or ISO 8601 string); None: all time.
            end: The day after the last; None: up to now.

        Returns:
            The member's runs, cost and last run.

        Raises:
            InvalidArgumentError: An empty email, or a bad bound.
            NotFoundError: No such organization.

        Example:
            >>> org.get_user_usage("alice@acme.com").executions
            42
        """
        path = self._path("users", segment("email", email), "usage")
        params = _period(start, end)
        return self._client._get(path, models.OrgUserUsage, params=params, **options)

    def __repr__(self) -> str:
        return f"<OrganizationClient of organization {self.org_id}>"


def _secret(value: Any) -> tuple[str, ...]:
    """A write-only credential to mask, if the body carries one."""
    return (value,) if isinstance(value, str) and value else ()


def _optional_text(name: str, value: str | None) -> Any:
    return UNSET if value is None else require_str(name, value, allow_empty=True)
