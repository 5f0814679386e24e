"""The one cattrs converter: wire names, strict primitives, open enums, aware datetimes.

Generated models keep their wire names in `attrs.field(metadata={"wire": ...})`; the hook
factories below turn those into cattrs renames in both directions. Unknown keys are
ignored (forward compatible); `strict_converter` forbids them and is what the tests use to
catch drift between the specs and the local fakes.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from controldeck.errors import ResponseValidationError

__all__ = ["converter", "strict_converter", "structure", "unstructure"]

T = TypeVar("T")


def _overrides(cls: type) -> dict[str, Any]:
    return {
        a.name: override(rename=a.metadata["wire"])
        for a in attrs.fields(cls)
        if "wire" in a.metadata
    }


def _strict(kind: type, *, also: tuple[type, ...] = ()) -> Any:
    accepted = (kind, *also)

    def hook(value: Any, _: type) -> Any:
        # bool is an int subclass; a JSON true is never a number here.
        if type(value) not in accepted:
            # Strings are not quoted back: the field may hold a secret.
            shown = "" if isinstance(value, str) else f" {value!r:.40}"
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}{shown}")
        return kind(value) if kind is float else value

    return hook


def _structure_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date-time string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"date-time {value!r} has no timezone offset")
    return parsed


def _structure_str_enum(value: Any, cls: type[enum.StrEnum]) -> enum.StrEnum:
    if not isinstance(value, str):
        raise ValueError(f"expected a string for {cls.__name__}, got {type(value).__name__}")
    return cls(value)  # unknown values become UNKNOWN pseudo-members via _missing_


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
            cls, conv, _cattrs_forbid_extra_keys=forbid_extra_keys, **_overrides(cls)
        )

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected an object, got {type(value).__name__}")
            return fields(value, cls)

        return hook

    return factory


def _make(forbid_extra_keys: bool) -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=forbid_extra_keys)
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(float, _strict(float, also=(int,)))
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_structure_hook(enum.StrEnum, _structure_str_enum)
    conv.register_structure_hook(bytes, lambda v, _: base64.b64decode(v, validate=True))
    conv.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
    conv.register_structure_hook_factory(_is_list, _strict_list(conv))
    conv.register_structure_hook_factory(attrs.has, _object(conv, forbid_extra_keys))
    conv.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(
            cls, conv, _cattrs_omit_if_default=True, **_overrides(cls)
        ),
    )
    return conv


converter = _make(forbid_extra_keys=False)
strict_converter = _make(forbid_extra_keys=True)
# `structure()` takes a `converter=` argument, which hides the module name inside it.
lenient_converter = converter


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
    """Turn a model (or plain data holding models) into JSON-ready data with wire names."""
    return converter.unstructure(obj)
