"""Scoped tokens (`client.tokens`): mint, list, revoke.

A minted token is a secret: its model's repr hides it, and the `token` key is masked in
log lines and error excerpts like every other credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_bool, require_str
from controldeck.akribes._base import Resource, segment
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._core._pagination import Page
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import MintTokenResponse, TokenInfo, TokenScopes
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["TokensClient"]


def _flag(name: str, value: Any) -> str | None:
    """A boolean filter as the server reads it: `true` when set, left out otherwise."""
    return "true" if require_bool(name, value) else None


class TokensClient(Resource):
    """Scoped `akribes_tk_...` tokens. Minting and revoking by email need a service token.

    Example:
        >>> minted = client.tokens.mint(
        ...     scopes=TokenScopes(projects="*", role=TokenRole.ADMIN),
        ...     expires_in=8 * 3600,
        ...     label="web-session",
        ...     user_email="alice@acme.com",
        ... )
        >>> browser_token = minted.token
    """

    def mint(
        self,
        *,
        scopes: TokenScopes,
        expires_in: int,
        label: str,
        user_email: str | None = None,
        **options: Unpack[CallOptions],
    ) -> MintTokenResponse:
        """Mint a scoped token (`POST /tokens`).

        Args:
            scopes: What the token may do: projects (`"*"` or ids), role, and optional
                script, execution and feature limits.
            expires_in: Lifetime in seconds (the server allows at most 90 days).
            label: A name shown in token lists (at most 128 characters).
            user_email: The user the token is for, so `revoke_by_email` can find it.

        Returns:
            The token (shown only here; its repr hides it), its id and expiry.

        Raises:
            InvalidArgumentError: `scopes` is not a `TokenScopes` (or its `projects` is
                neither `"*"` nor a list of ids), a lifetime that is not a positive int, or
                an empty label or email.
            PermissionDeniedError: The caller may not mint.

        Example:
            >>> minted = client.tokens.mint(
            ...     scopes=TokenScopes(projects=[7], role=TokenRole.VIEWER),
            ...     expires_in=3600,
            ...     label="share",
            ... )
            >>> minted.token_id
            'tok_1'
        """
        if not isinstance(scopes, models.TokenScopes):
            raise InvalidArgumentError(f"scopes must be a TokenScopes, got {type(scopes).__name__}")
        projects = scopes.projects
        if projects != "*" and not (
            isinstance(projects, list)
            and all(isinstance(p, int) and not isinstance(p, bool) for p in projects)
        ):
            raise InvalidArgumentError(
                f'scopes.projects must be "*" or a list of project ids, got {projects!r:.40}'
            )
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 1:
            raise InvalidArgumentError(
                f"expires_in must be a positive number of seconds (an int), got {expires_in!r:.40}"
            )
        body = models.MintTokenRequest(
            scopes=scopes,
            expires_in=expires_in,
            label=require_str("label", label),
            user_email=UNSET if user_email is None else require_str("user_email", user_email),
        )
        return self._client._post("/tokens", models.MintTokenResponse, json=body, **options)

    def list(
        self,
        *,
        user_email: str | None = None,
        include_revoked: bool = False,
        include_expired: bool = False,
        **options: Unpack[CallOptions],
    ) -> Page[TokenInfo]:
        """Tokens' metadata (never their secrets), paged lazily.

        A service token sees every token; a scoped token sees only its own.

        Args:
            user_email: Only this user's tokens (service tokens only).
            include_revoked: Also list revoked tokens.
            include_expired: Also list expired tokens.

        Returns:
            The tokens; an empty page when the server answers 404.

        Raises:
            InvalidArgumentError: An empty email, or a filter that is not a bool.

        Example:
            >>> [t.label for t in client.tokens.list(user_email="alice@acme.com")]
            ['web-session']
        """
        params = {
            "user_email": None if user_email is None else require_str("user_email", user_email),
            "include_revoked": _flag("include_revoked", include_revoked),
            "include_expired": _flag("include_expired", include_expired),
        }
        return self._list("/tokens", models.TokenInfo, params=params, **options)

    def revoke(self, token_id: str, **options: Unpack[CallOptions]) -> None:
        """Revoke one token; a token that does not exist is not an error (as upstream).

        Args:
            token_id: The token's id (`token_id` from `mint`, `id` in `list`).

        Raises:
            InvalidArgumentError: An empty id.

        Example:
            >>> client.tokens.revoke("tok_1")
        """
        path = f"/tokens/{segment('token_id', token_id)}"
        self._client._delete_found(path, **options)

    def revoke_by_email(self, email: str, **options: Unpack[CallOptions]) -> int:
        """Revoke every token minted for a user (offboarding; service tokens only).

        Args:
            email: The user's email.

        Returns:
            How many tokens were revoked.

        Raises:
            InvalidArgumentError: An empty email.

        Example:
            >>> client.tokens.revoke_by_email("bob@acme.com")
            3
        """
        params = {"user_email": require_str("email", email)}
        reply = self._client._call(
            "DELETE", "/tokens", models.RevokeByEmailResponse, params=params, **options
        )
        return reply.revoked
