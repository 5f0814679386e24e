"""Resource references (`runbeam.acme.ingress.name.patient_api`): parsed before sending."""

from __future__ import annotations

from typing import Literal

import attrs

from controldeck.errors import InvalidArgumentError

__all__ = ["RESOURCE_TYPES", "ResourceReference", "parse_reference"]

RESOURCE_TYPES = ("ingress", "egress", "pipeline", "endpoint", "backend", "mesh")
_GRAMMAR = (
    "{provider}.name.{name}, {provider}.id.{id}, {provider}.{team}.id.{id} or "
    "{provider}.{team}.{type}.name|id.{value}"
)


@attrs.frozen(kw_only=True)
class ResourceReference:
    """A parsed reference.

    Attributes:
        provider: `runbeam`, or `local` for references the gateway resolves itself.
        by: Whether `value` is a `name` or an `id`.
        value: The name or id.
        team: The team, when the reference names one.
        type: The resource type (ingress, egress, pipeline, endpoint, backend, mesh).

    Example:
        >>> ref = parse_reference("runbeam.acme.ingress.name.patient_api")
        >>> (ref.provider, ref.team, ref.type, ref.by, ref.value)
        ('runbeam', 'acme', 'ingress', 'name', 'patient_api')
    """

    provider: str
    by: Literal["name", "id"]
    value: str
    team: str | None = None
    type: str | None = None

    @property
    def is_local(self) -> bool:
        """True for `local.*` references, which never go to the server.

        Example:
            >>> parse_reference("patient_api").is_local
            True
        """
        return self.provider == "local"


def parse_reference(ref: str, *, allow_local: bool = True) -> ResourceReference:
    """Parse a reference by the upstream grammar.

    Args:
        ref: The reference. A bare `name` is the local reference `local.name.name`.
        allow_local: When False, `local.*` references are rejected (they never go to the
            server).

    Returns:
        The parsed reference.

    Raises:
        InvalidArgumentError: `ref` does not follow the grammar.

    Example:
        >>> parse_reference("runbeam.acme.ingress.name.patient_api").type
        'ingress'
    """
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidArgumentError("ref must be a non-empty string")
    parts = ref.split(".")
    if any(not p for p in parts):
        raise InvalidArgumentError(f"ref {ref!r} has an empty part; expected {_GRAMMAR}")
    parsed: ResourceReference
    if len(parts) == 1:
        parsed = ResourceReference(provider="local", by="name", value=parts[0])
    elif len(parts) == 3 and parts[1] in ("name", "id"):
        parsed = ResourceReference(provider=parts[0], by=_by(parts[1]), value=parts[2])
    elif len(parts) == 4 and parts[2] == "id":
        parsed = ResourceReference(provider=parts[0], team=parts[1], by="id", value=parts[3])
    elif len(parts) == 5 and parts[3] in ("name", "id"):
        if parts[2] not in RESOURCE_TYPES:
            raise InvalidArgumentError(
                f"ref {ref!r}: resource type {parts[2]!r} is not one of {', '.join(RESOURCE_TYPES)}"
            )
        parsed = ResourceReference(
            provider=parts[0], team=parts[1], type=parts[2], by=_by(parts[3]), value=parts[4]
        )
    else:
        raise InvalidArgumentError(f"ref {ref!r} does not follow the grammar: {_GRAMMAR}")
    if parsed.is_local and not allow_local:
        raise InvalidArgumentError(
            f"ref {ref!r} is a local reference: the gateway resolves it itself and it is never "
            "sent to Runbeam Cloud"
        )
    return parsed


def _by(word: str) -> Literal["name", "id"]:
    return "name" if word == "name" else "id"
