"""What every generated model builds on: `UNSET`, open enums, tagged unions, `to_dict`.

Platform-free: the generated modules (`controldeck._generated.<platform>`) import these
names, and the converter (`_convert`) reads them to decide what goes on the wire.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import attrs

from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "UNSET",
    "Model",
    "OpenStrEnum",
    "TaggedUnion",
    "UnknownVariant",
    "Unset",
    "not_null",
]

_E = TypeVar("_E", bound="OpenStrEnum")


class Unset(enum.Enum):
    """The type of `UNSET`: "leave this field out of the request body".

    Optional request-body fields default to `UNSET`, and only `UNSET` is omitted when the
    body is written; `None` is sent as JSON `null` where the spec allows null. A
    one-member enum, so `if x is not UNSET:` narrows `X | Unset` to `X` for type checkers,
    and copies and pickles stay the same object.

    Example:
        >>> from controldeck._core._models import UNSET
        >>> UNSET, bool(UNSET)
        (UNSET, False)
    """

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = Unset.UNSET


def not_null(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator for request fields whose spec does not allow `null`.

    Args:
        instance: The model being built.
        attribute: The field.
        value: The value given.

    Raises:
        InvalidArgumentError: `value` is `None`.

    Example:
        >>> import attrs
        >>> @attrs.define
        ... class Body:
        ...     name: str = attrs.field(validator=not_null)
        >>> Body(name=None)
        Traceback (most recent call last):
        controldeck.errors.InvalidArgumentError: Body.name may not be None: ...
    """
    if value is None:
        raise InvalidArgumentError(
            f"{type(instance).__name__}.{attribute.name} may not be None: the API does not "
            "accept null there (leave the argument out instead)"
        )


class _UnknownAttribute:
    """`TheEnum.UNKNOWN`: the marker every unknown wire value compares equal to."""

    def __get__(self, instance: object, owner: type[_E]) -> _E:
        marker: _E | None = owner.__dict__.get("_unknown_marker")
        if marker is None:
            marker = owner._pseudo_member("")
            # Set once per enum class; `EnumType.__setattr__` only guards members.
            type.__setattr__(owner, "_unknown_marker", marker)
        return marker


class OpenStrEnum(enum.StrEnum):
    """A string enum that keeps values this version does not know.

    A wire value outside the spec's list decodes (through the converter) to a pseudo-member
    named `UNKNOWN` that still equals the raw string, round-trips unchanged and is not part
    of `list(TheEnum)`; it also equals `TheEnum.UNKNOWN`, so `status == TheEnum.UNKNOWN`
    (or `case TheEnum.UNKNOWN:`) tells it apart. Calling `TheEnum("typo")` yourself still
    raises: a caller's value must be one of the listed members.

    Example:
        >>> class Color(OpenStrEnum):
        ...     RED = "red"
        >>> from controldeck._core._convert import structure
        >>> teal = structure("teal", Color)
        >>> teal, teal == "teal", teal == Color.UNKNOWN
        (<Color.UNKNOWN: 'teal'>, True, True)
        >>> Color("teal")
        Traceback (most recent call last):
        controldeck.errors.InvalidArgumentError: 'teal' is not a valid Color; expected one of: red
    """

    # Annotated only: an assignment in an enum body would make mypy count it as a member.
    UNKNOWN: _UnknownAttribute

    @classmethod
    def _missing_(cls, value: object) -> Self:
        listed = ", ".join(m.value for m in cls)
        shown = f"{value!r:.100}"
        raise InvalidArgumentError(
            f"{shown} is not a valid {cls.__name__}; expected one of: {listed}"
        )

    @classmethod
    def _pseudo_member(cls, value: str) -> Self:
        """A member for `value`, which the spec does not list (used by the converter)."""
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    def __eq__(self, other: object) -> bool:
        marker = type(self).__dict__.get("_unknown_marker")
        if marker is not None and (self is marker or other is marker):
            return isinstance(other, type(self)) and self._name_ == other._name_ == "UNKNOWN"
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    # Equal values hash alike; `TheEnum.UNKNOWN` is for `==` and `match`, not a dict key.
    __hash__ = str.__hash__

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # The default reduces to `TheEnum(value)`, which rejects an unknown value.
        if self._name_ == "UNKNOWN":
            return (type(self)._pseudo_member, (self._value_,))
        return (type(self), (self._value_,))


# The descriptor is attached after the class exists, so `EnumType` never sees it.
type.__setattr__(OpenStrEnum, "UNKNOWN", _UnknownAttribute())


class Model:
    """Base of every generated model: `to_dict()` and `to_json()`.

    Example:
        >>> gateway.to_dict()["created_at"]
        '2024-01-01T00:00:00+00:00'
    """

    __slots__ = ()

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """This model as JSON-ready data, exactly as it is written on the wire.

        Wire names, datetimes as ISO 8601 strings, bytes as base64, `UNSET` fields left
        out, union members with their tag.

        Args:
            reveal_secrets: Keep fields marked secret in the spec; by default their values
                are replaced by `"<redacted>"`.

        Returns:
            A new dict of plain JSON values.

        Example:
            >>> MeshTokenResponse(token="eyJ...", expires_at=when, mesh_id="m").to_dict()
            {'token': '<redacted>', 'expires_at': '2025-12-29T00:10:00+00:00', 'mesh_id': 'm'}
        """
        # Imported here: the converter imports this module for UNSET and the enum base.
        from controldeck._core import _convert

        data: dict[str, Any] = _convert.to_data(self, reveal_secrets=reveal_secrets)
        return data

    def to_json(self, *, reveal_secrets: bool = False, indent: int | None = None) -> str:
        """This model as a JSON document (see `to_dict`).

        Args:
            reveal_secrets: Keep secret values instead of `"<redacted>"`.
            indent: Passed to `json.dumps` for pretty output.

        Returns:
            The JSON text.

        Example:
            >>> change.to_json(indent=2)
            '{\\n  "id": "change-001", ...'
        """
        return json.dumps(self.to_dict(reveal_secrets=reveal_secrets), indent=indent)


@attrs.define(kw_only=True)
class UnknownVariant(Model):
    """A union value whose tag this version does not know (generated as `Unknown<Union>`).

    Decoding never fails on a new tag; the value keeps the whole JSON object and writes it
    back unchanged.

    Example:
        >>> event = structure({"type": "TaskPaused", "payload": {}}, Event)
        >>> event.tag, event.raw
        ('TaskPaused', {'type': 'TaskPaused', 'payload': {}})
    """

    tag: str
    """The tag value as sent."""
    raw: dict[str, Any]
    """The whole JSON object, tag included."""


@attrs.frozen(eq=False)
class TaggedUnion:
    """How a generated union is told apart on the wire (the `Annotated` metadata of its alias).

    Internally tagged (`content` is None): `{"kind": "local", ...the member's fields}`.
    Adjacently tagged: `{"type": "TaskStart", "payload": {...the member's fields}}`.

    Attributes:
        tag: The wire name of the tag key.
        members: Tag value -> member class.
        unknown: The class that holds any other tag.
        content: The key holding the member, for adjacently tagged unions.

    Example:
        >>> Profile = Annotated[
        ...     Local | Remote | UnknownProfile,
        ...     TaggedUnion(tag="kind", members={"local": Local, "remote": Remote},
        ...                 unknown=UnknownProfile),
        ... ]
    """

    tag: str
    members: Mapping[str, type[Model]]
    unknown: type[UnknownVariant]
    content: str | None = None
