"""The one cattrs converter: wire names, strict primitives, UNSET, open enums, tagged unions.

Generated models keep their wire names in `attrs.field(metadata={"wire": ...})`; the hook
factories below turn those into cattrs renames in both directions. Unknown keys are
ignored (forward compatible); `strict_converter` forbids them and is what the tests use to
catch drift between the specs and the local fakes.

int64: a field with `metadata={"int64": "int64" | "uint64"}` is a Python `int` carried as a
decimal string (protojson): read from a string (or a JSON number), range-checked, and
written back as a string.

Writing: only `UNSET` fields are left out; `None` is written as `null`, and defaults
(`enabled=True`, a union's tag) are always written. Reading: an optional field whose
default is not `None` takes that default when the server sends `null` (servers emit
`null` for unset options). A union alias is `Annotated[A | B | UnknownX, TaggedUnion(...)]`
and is decoded by its tag; an unknown tag becomes `UnknownX`, never an error.
"""

from __future__ import annotations

import base64
import enum
import re
import types
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from controldeck._core._models import UNSET, OpenStrEnum, TaggedUnion, UnknownVariant, Unset
from controldeck.errors import InvalidArgumentError, ResponseValidationError

__all__ = ["converter", "strict_converter", "structure", "to_data", "unstructure"]

T = TypeVar("T")

REDACTED = "<redacted>"


def _overrides(cls: type) -> dict[str, Any]:
    # Only UNSET is left out: a field equal to any other default is still written.
    return {
        a.name: override(
            rename=a.metadata.get("wire"),
            omit_if_default=a.default is UNSET,
            unstruct_hook=_int64_unstructure(a) if "int64" in a.metadata else None,
        )
        for a in attrs.fields(cls)
    }


def _renames(cls: type) -> dict[str, Any]:
    attrs.resolve_types(cls)  # the int64 hooks look at the field's type
    return {
        a.name: override(
            rename=a.metadata.get("wire"),
            struct_hook=_int64_structure(a) if "int64" in a.metadata else None,
        )
        for a in attrs.fields(cls)
        if "wire" in a.metadata or "int64" in a.metadata
    }


# -- int64 as decimal strings ------------------------------------------------------------

_INT64_RANGES = {"int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1)}
# ASCII digits only: int() would also take " 12", "1_000" and other scripts' digits.
_DECIMAL = re.compile(r"-?[0-9]{1,20}")


def _int64_range(a: attrs.Attribute[Any]) -> tuple[str, int, int]:
    kind = a.metadata["int64"]
    if kind not in _INT64_RANGES:
        raise TypeError(f"{a.name}: unknown int64 kind {kind!r} (int64 or uint64)")
    low, high = _INT64_RANGES[kind]
    return kind, low, high


def _int64_structure(a: attrs.Attribute[Any]) -> Callable[[Any, Any], Any]:
    """Read an int64 field: a decimal string (protojson) or a JSON integer."""
    kind, low, high = _int64_range(a)
    nullable = _allows_none(a.type)

    def hook(value: Any, _: Any) -> Any:
        got = type(value)
        if got is str:
            if _DECIMAL.fullmatch(value) is None:
                raise ValueError(f"expected an {kind} decimal string, got {value!r:.40}")
            number = int(value)
        elif got is int:
            number = value
        elif got is float and value.is_integer():
            number = int(value)
        elif value is None and nullable:
            return None
        else:
            raise ValueError(f"expected an {kind} decimal string, got {got.__name__}")
        if not low <= number <= high:
            raise ValueError(f"{number} is out of the {kind} range")
        return number

    return hook


def _int64_unstructure(a: attrs.Attribute[Any]) -> Callable[[Any], Any]:
    """Write an int64 field as its decimal string (`None` stays `null`)."""
    kind, low, high = _int64_range(a)
    name = a.metadata.get("wire", a.name)

    def hook(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        if type(value) is not int:  # bool is an int subclass, and never an int64 here
            raise InvalidArgumentError(f"{name} must be an int, got {type(value).__name__}")
        if not low <= value <= high:
            raise InvalidArgumentError(f"{name} is out of the {kind} range: {value}")
        return str(value)

    return hook


def _allows_none(t: Any) -> bool:
    return t is Any or t is None or t is type(None) or type(None) in get_args(t)


def _null_means_absent(cls: type) -> frozenset[str]:
    """Wire names of optional fields that cannot hold `None` (their default applies)."""
    attrs.resolve_types(cls)
    return frozenset(
        a.metadata.get("wire", a.name)
        for a in attrs.fields(cls)
        if a.default is not attrs.NOTHING and a.default is not None and not _allows_none(a.type)
    )


def _strict(kind: type, *, also: tuple[type, ...] = ()) -> Any:
    def hook(value: Any, _: type) -> Any:
        # The exact type first: this runs for every scalar of every reply.
        # bool is an int subclass; a JSON true is never a number here.
        got = type(value)
        if got is kind:
            return value
        if got in also:
            return kind(value)
        # JSON Schema counts 2592000.0 as an integer, and so do we.
        if kind is int and got is float and value.is_integer():
            return int(value)
        # Strings are not quoted back: the field may hold a secret.
        shown = "" if isinstance(value, str) else f" {value!r:.40}"
        raise ValueError(f"expected {kind.__name__}, got {got.__name__}{shown}")

    return hook


def _structure_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date-time string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"date-time {value!r} has no timezone offset")
    return parsed


def _structure_open_enum(value: Any, cls: type[OpenStrEnum]) -> OpenStrEnum:
    if not isinstance(value, str):
        raise ValueError(f"expected a string for {cls.__name__}, got {type(value).__name__}")
    member = cls._value2member_map_.get(value)
    # A value the spec does not list yet is kept, not rejected (forward compatible).
    return cls._pseudo_member(value) if member is None else member  # type: ignore[return-value]


def _structure_str_enum(value: Any, cls: type[enum.StrEnum]) -> enum.StrEnum:
    if not isinstance(value, str):
        raise ValueError(f"expected a string for {cls.__name__}, got {type(value).__name__}")
    return cls(value)


def _is_list(t: Any) -> bool:
    return t is list or get_origin(t) is list


def _strict_list(conv: cattrs.Converter) -> Any:
    # cattrs builds a list from any iterable: a JSON string would become its characters
    # and an object the list of its keys.
    def factory(cls: Any) -> Any:
        items = list_structure_factory(cls, conv)

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, list):
                raise ValueError(f"expected an array, got {type(value).__name__}")
            return items(value, cls)

        return hook

    return factory


def _object(conv: cattrs.Converter, forbid_extra_keys: bool) -> Any:
    # Without the type check a string or `[]` where an object belongs fails as
    # "string indices must be integers @ $.<first field>": the wrong message and path.
    def factory(cls: Any) -> Any:
        fields = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=forbid_extra_keys, **_renames(cls)
        )
        nulls = _null_means_absent(cls)

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected an object, got {type(value).__name__}")
            if nulls and None in value.values():
                value = {k: v for k, v in value.items() if v is not None or k not in nulls}
            return fields(value, cls)

        return hook

    return factory


def _unstructure_object(conv: cattrs.Converter, mask_secrets: bool) -> Any:
    def factory(cls: Any) -> Any:
        fields = make_dict_unstructure_fn(cls, conv, **_overrides(cls))
        secret = [
            a.metadata.get("wire", a.name) for a in attrs.fields(cls) if a.metadata.get("secret")
        ]
        if not (mask_secrets and secret):
            return fields

        def masked(obj: Any) -> dict[str, Any]:
            data = fields(obj)
            for key in secret:
                if data.get(key) is not None:
                    data[key] = REDACTED
            return data

        return masked

    return factory


# -- unions ----------------------------------------------------------------------------


class _MemberError(Exception):
    """A union member failed to decode; carries its tag for the error message and path."""

    def __init__(self, tag: str, content: str | None, cause: BaseException) -> None:
        super().__init__(tag)
        self.tag = tag
        self.content = content
        self.cause = cause


def _tagged(t: Any) -> TaggedUnion | None:
    if get_origin(t) is Annotated:
        for meta in t.__metadata__:
            if isinstance(meta, TaggedUnion):
                return meta
    return None


def _structure_tagged(conv: cattrs.Converter, forbid_extra_keys: bool) -> Any:
    def factory(t: Any) -> Any:
        spec = _tagged(t)
        assert spec is not None  # the predicate checked it
        envelope = {spec.tag, spec.content}

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected an object, got {type(value).__name__}")
            tag = value.get(spec.tag)
            if not isinstance(tag, str):
                got = "missing" if tag is None else f"a {type(tag).__name__}"
                raise ValueError(f"the union tag {spec.tag!r} is {got}")
            member = spec.members.get(tag)
            if member is None:
                return spec.unknown(tag=tag, raw=dict(value))
            body: Any
            if spec.content is None:
                body = value
            else:
                body = value.get(spec.content)
                if forbid_extra_keys and value.keys() - envelope:
                    raise cattrs.ForbiddenExtraKeysError("", type(value), value.keys() - envelope)
            try:
                return conv.structure(body, member)
            except Exception as exc:
                raise _MemberError(tag, spec.content, exc) from exc

        return hook

    return factory


def _unstructure_tagged(conv: cattrs.Converter) -> Any:
    def factory(t: Any) -> Any:
        spec = _tagged(t)
        assert spec is not None  # the predicate checked it
        tags = {cls: tag for tag, cls in spec.members.items()}

        def hook(obj: Any) -> Any:
            if isinstance(obj, UnknownVariant):
                return conv.unstructure(obj)
            tag = tags.get(type(obj))
            if tag is None:
                names = ", ".join(c.__name__ for c in tags)
                raise InvalidArgumentError(
                    f"{type(obj).__name__} is not one of the union's members ({names})"
                )
            data = conv.unstructure(obj)
            if spec.content is None:
                return {spec.tag: tag, **data}
            return {spec.tag: tag, spec.content: data}

        return hook

    return factory


def _is_special_union(t: Any) -> bool:
    """A union holding `Unset` or a tagged union, which cattrs cannot handle alone."""
    if get_origin(t) not in (Union, types.UnionType):
        return False
    return any(a is Unset or _tagged(a) is not None for a in get_args(t))


def _rest(t: Any) -> Any:
    """`t` without `Unset` and `None`."""
    rest = [a for a in get_args(t) if a is not Unset and a is not type(None)]
    return rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007


def _structure_special_union(conv: cattrs.Converter) -> Any:
    # The inner hook is looked up once, not per value: request models (every field
    # `X | Unset`) decoded in a stream spent most of their time in cattrs' dispatch.
    def factory(t: Any) -> Any:
        inner = _rest(t)
        nullable = type(None) in get_args(t)
        structure_inner = conv.get_structure_hook(inner)

        def hook(value: Any, _: Any) -> Any:
            if value is None and nullable:
                return None
            return structure_inner(value, inner)

        return hook

    return factory


def _unstructure_special_union(conv: cattrs.Converter) -> Any:
    def factory(t: Any) -> Any:
        inner = _rest(t)

        def hook(obj: Any) -> Any:
            return obj if obj is None or obj is UNSET else conv.unstructure(obj, inner)

        return hook

    return factory


def _is_plain_optional(t: Any) -> bool:
    """`X | None` with one X that is neither `Unset` nor a tagged union."""
    if get_origin(t) not in (Union, types.UnionType):
        return False
    args = get_args(t)
    return len(args) == 2 and type(None) in args and not _is_special_union(t)


def _structure_optional(conv: cattrs.Converter) -> Any:
    # cattrs' own Optional hook looks the inner type's hook up again for every value; a
    # 10,000-item page with 11 optional fields per item spent a third of its decode there.
    def factory(t: Any) -> Any:
        inner = next(a for a in get_args(t) if a is not type(None))
        structure_inner = conv.get_structure_hook(inner)

        def hook(value: Any, _: Any) -> Any:
            return None if value is None else structure_inner(value, inner)

        return hook

    return factory


def _is_unknown_variant(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, UnknownVariant)


def _make(forbid_extra_keys: bool, *, mask_secrets: bool = False) -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=forbid_extra_keys)
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(float, _strict(float, also=(int,)))
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    # cattrs dispatches str subclasses by their class first, so the most specific wins.
    conv.register_structure_hook(enum.StrEnum, _structure_str_enum)
    conv.register_structure_hook(OpenStrEnum, _structure_open_enum)
    conv.register_structure_hook(bytes, lambda v, _: base64.b64decode(v, validate=True))
    conv.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
    conv.register_structure_hook_factory(_is_list, _strict_list(conv))
    conv.register_structure_hook_factory(attrs.has, _object(conv, forbid_extra_keys))
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_object(conv, mask_secrets))
    # An unknown union member goes back out exactly as it came in.
    conv.register_unstructure_hook_factory(_is_unknown_variant, lambda _: lambda obj: dict(obj.raw))
    conv.register_structure_hook_factory(
        lambda t: _tagged(t) is not None, _structure_tagged(conv, forbid_extra_keys)
    )
    conv.register_unstructure_hook_factory(
        lambda t: _tagged(t) is not None, _unstructure_tagged(conv)
    )
    conv.register_structure_hook_factory(_is_special_union, _structure_special_union(conv))
    conv.register_unstructure_hook_factory(_is_special_union, _unstructure_special_union(conv))
    conv.register_structure_hook_factory(_is_plain_optional, _structure_optional(conv))
    return conv


converter = _make(forbid_extra_keys=False)
strict_converter = _make(forbid_extra_keys=True)
# `structure()` takes a `converter=` argument, which hides the module name inside it.
lenient_converter = converter
# Only `to_dict()` / `to_json()` mask secrets; request bodies carry them.
_masking_converter = _make(forbid_extra_keys=False, mask_secrets=True)


def _wire_name(cls: type | None, name: str) -> str:
    if cls is not None and attrs.has(cls):
        for a in attrs.fields(cls):
            if a.name == name:
                return str(a.metadata.get("wire", name))
    return name


def _problems(exc: BaseException, path: str) -> list[tuple[str, str]]:
    """Flatten a cattrs error tree into (path, what) pairs, paths in wire names."""
    out: list[tuple[str, str]] = []
    if isinstance(exc, ClassValidationError):
        cls = getattr(exc, "cl", None)
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            out += _problems(sub, f"{path}.{_wire_name(cls, note.name)}")
        for other in without:
            out += _problems(other, path)
        return out
    if isinstance(exc, IterableValidationError):
        items, rest = exc.group_exceptions()
        for sub, item in items:
            out += _problems(sub, f"{path}[{item.index!r}]")
        for other in rest:
            out += _problems(other, path)
        return out
    if isinstance(exc, _MemberError):
        inner = f"{path}.{exc.content}" if exc.content else path
        return [(where, f"{what} (tag {exc.tag!r})") for where, what in _problems(exc.cause, inner)]
    if isinstance(exc, KeyError):
        return [(path, "required field missing")]
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [(path, f"unexpected fields {sorted(exc.extra_fields)}")]
    if isinstance(exc, BaseExceptionGroup):
        for nested in exc.exceptions:
            out += _problems(nested, path)
        return out
    return [(path, str(exc) or type(exc).__name__)]


def structure(
    data: Any,
    cls: type[T],
    *,
    strict: bool = False,
    converter: cattrs.Converter | None = None,
    error_context: Callable[[], Mapping[str, Any]] | None = None,
) -> T:
    """Turn decoded JSON into `cls`, or raise `ResponseValidationError` naming the JSON path.

    Args:
        data: The decoded JSON.
        cls: The generated model (or any type cattrs understands) to build.
        strict: Reject unknown keys too (used by the tests of the fakes).
        converter: The converter to use instead of the default (or strict) one.
        error_context: Called only when the data does not fit, for the keyword arguments
            (`status_code`, `request_id`, `body_excerpt`) the error carries; the success
            path never builds them.
    """
    conv = converter or (strict_converter if strict else lenient_converter)
    try:
        return conv.structure(data, cls)
    except Exception as exc:  # cattrs raises many kinds; all mean "not the promised shape"
        found = _problems(exc, "$")
        problems = [f"{what} @ {where}" for where, what in found]
        name = getattr(cls, "__name__", str(cls))
        first = problems[0] if problems else str(exc)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ResponseValidationError(
            f"The reply did not match {name}: {first}{more}",
            path=found[0][0] if found else "$",
            problems=problems,
            **(error_context() if error_context is not None else {}),
        ) from exc


def unstructure(obj: Any) -> Any:
    """Turn a model (or plain data holding models) into JSON-ready data with wire names.

    This is what goes on the wire: secrets are kept and only `UNSET` fields are left out.

    Args:
        obj: A model, or lists/dicts/scalars holding models.

    Returns:
        JSON-ready data.

    Raises:
        InvalidArgumentError: A union field holds a class that is not one of its members.

    Example:
        >>> unstructure(StoreConfigRequest(type=ConfigType.GATEWAY, config="x"))
        {'type': 'gateway', 'config': 'x'}
    """
    return converter.unstructure(obj)


def to_data(obj: Any, *, reveal_secrets: bool = False) -> Any:
    """Like `unstructure`, but secret fields are `"<redacted>"` unless revealed (`to_dict`).

    Args:
        obj: A model, or lists/dicts/scalars holding models.
        reveal_secrets: Keep the secret values.

    Returns:
        JSON-ready data.

    Example:
        >>> to_data(MeshTokenResponse(token="t", expires_at=when, mesh_id="m"))["token"]
        '<redacted>'
    """
    return (converter if reveal_secrets else _masking_converter).unstructure(obj)
