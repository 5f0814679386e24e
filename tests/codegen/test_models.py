"""Generated models from `fixture.yaml`: tagged unions, UNSET request fields, to_dict, secrets.

The fixture spec is generated at test time with the real generator and templates, so these
tests exercise exactly what a platform spec would produce.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pickle
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import attrs
import pytest

from controldeck._core._convert import structure, unstructure
from controldeck._core._models import UNSET, OpenStrEnum, Unset
from controldeck.errors import InvalidArgumentError, ResponseValidationError

ROOT = Path(__file__).resolve().parents[2]
MODULE = "controldeck_codegen_fixture"


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "codegen"))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "codegen"))
    work = tmp_path_factory.mktemp("codegen")
    source = generate.generate_module(Path(__file__).with_name("fixture.yaml"), work)
    path = work / f"{MODULE}.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location(MODULE, path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    # attrs resolves the string annotations through sys.modules.
    sys.modules[MODULE] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[MODULE]


def event_page(**overrides: Any) -> dict[str, Any]:
    page: dict[str, Any] = {
        "data": [
            {"type": "TaskStart", "payload": {"task_id": "t1", "at": "2024-05-01T10:00:00Z"}},
            {"type": "TaskEnd", "payload": {"task_id": "t1", "ok": True, "color": "red"}},
        ],
        "profiles": [
            {"kind": "rest_remote", "url": "https://a.example"},
            {"kind": "local", "path": "/srv"},
        ],
    }
    page.update(overrides)
    return page


def rejected(data: Any, cls: Any, **kwargs: Any) -> ResponseValidationError:
    with pytest.raises(ResponseValidationError) as info:
        structure(data, cls, **kwargs)
    return info.value


class TestUnionsDecode:
    def test_each_tag_picks_its_class_inside_lists(self, gen: Any) -> None:
        page = structure(event_page(), gen.EventPage)
        assert page.data == [
            gen.TaskStart(task_id="t1", at=datetime(2024, 5, 1, 10, tzinfo=UTC)),
            gen.TaskEnd(task_id="t1", ok=True, color=gen.Color.RED),
        ]
        assert page.profiles == [
            gen.RestRemote(url="https://a.example"),
            gen.Local(path="/srv"),
        ]

    def test_unknown_tags_become_unknown_values(self, gen: Any) -> None:
        paused = {"type": "TaskPaused", "payload": {"task_id": "t1", "why": "quota"}}
        cloud = {"kind": "cloud", "region": "eu"}
        page = structure(event_page(data=[paused], profiles=[cloud]), gen.EventPage)
        assert page.data == [gen.UnknownEvent(tag="TaskPaused", raw=paused)]
        assert page.profiles == [gen.UnknownProfile(tag="cloud", raw=cloud)]
        # They go back out exactly as they came.
        assert unstructure(page)["data"] == [paused]
        assert page.to_dict()["profiles"] == [cloud]

    def test_adjacent_payload_that_does_not_match_its_tag(self, gen: Any) -> None:
        bad = {"type": "TaskEnd", "payload": {"task_id": "t1", "ok": "yes"}}
        err = rejected(event_page(data=[event_page()["data"][0], bad]), gen.EventPage)
        assert err.path == "$.data[1].payload.ok"
        assert err.problems == ["expected bool, got str (tag 'TaskEnd') @ $.data[1].payload.ok"]

    def test_internal_member_that_does_not_match_its_tag(self, gen: Any) -> None:
        err = rejected(event_page(profiles=[{"kind": "rest_remote", "path": "/x"}]), gen.EventPage)
        assert err.path == "$.profiles[0].url"
        assert err.problems == ["required field missing (tag 'rest_remote') @ $.profiles[0].url"]

    def test_a_missing_payload_is_named(self, gen: Any) -> None:
        err = rejected(event_page(data=[{"type": "TaskStart"}]), gen.EventPage)
        assert err.problems == [
            "expected an object, got NoneType (tag 'TaskStart') @ $.data[0].payload"
        ]

    @pytest.mark.parametrize(
        ("item", "problem"),
        [
            ({"payload": {}}, "the union tag 'type' is missing @ $.data[0]"),
            ({"type": 3, "payload": {}}, "the union tag 'type' is a int @ $.data[0]"),
            ("TaskStart", "expected an object, got str @ $.data[0]"),
        ],
    )
    def test_no_usable_tag(self, gen: Any, item: Any, problem: str) -> None:
        assert rejected(event_page(data=[item]), gen.EventPage).problems == [problem]

    def test_strict_rejects_extra_envelope_keys(self, gen: Any) -> None:
        item = {**event_page()["data"][0], "seq": 4}
        err = rejected(event_page(data=[item]), gen.EventPage, strict=True)
        assert err.problems == ["unexpected fields ['seq'] @ $.data[0]"]
        assert structure(event_page(), gen.EventPage, strict=True).data[0].task_id == "t1"

    def test_union_alone(self, gen: Any) -> None:
        assert structure({"kind": "local"}, gen.Profile) == gen.Local()


class TestUnionsEncode:
    def test_internal_member_writes_its_tag(self, gen: Any) -> None:
        body = gen.CreateProfile(name="p", profile=gen.Local())
        assert unstructure(body) == {"name": "p", "profile": {"kind": "local"}}

    def test_adjacent_member_is_wrapped_with_its_tag(self, gen: Any) -> None:
        page = gen.EventPage(data=[gen.TaskEnd(task_id="t", ok=False)])
        assert page.to_dict()["data"] == [
            {"type": "TaskEnd", "payload": {"task_id": "t", "ok": False, "color": None}}
        ]

    def test_round_trip(self, gen: Any) -> None:
        page = structure(event_page(), gen.EventPage)
        assert structure(json.loads(page.to_json()), gen.EventPage) == page

    def test_a_class_outside_the_union_is_rejected(self, gen: Any) -> None:
        page = gen.EventPage(data=[gen.Local()])
        with pytest.raises(InvalidArgumentError, match=r"Local is not one of the union's"):
            page.to_dict()


class TestRequestBodies:
    def test_only_unset_is_left_out(self, gen: Any) -> None:
        body = gen.CreateProfile(name="p", profile=gen.Local(), enabled=True, note=None, tags=[])
        assert unstructure(body) == {
            "name": "p",
            "profile": {"kind": "local"},
            "enabled": True,
            "note": None,
            "tags": [],
        }

    def test_optional_fields_default_to_unset(self, gen: Any) -> None:
        body = gen.CreateProfile(name="p", profile=gen.RestRemote(url="u"))
        assert (body.enabled, body.note, body.tags, body.api_key) == (UNSET,) * 4
        assert body.profile.password is UNSET

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"name": None}, "CreateProfile.name"),
            ({"enabled": None}, "CreateProfile.enabled"),
            ({"tags": None}, "CreateProfile.tags"),
        ],
    )
    def test_null_where_the_spec_forbids_it(
        self, gen: Any, kwargs: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            gen.CreateProfile(**{"name": "p", "profile": gen.Local(), **kwargs})
        assert str(info.value).startswith(f"{field} may not be None")

    def test_null_check_also_runs_on_assignment(self, gen: Any) -> None:
        body = gen.CreateProfile(name="p", profile=gen.Local())
        with pytest.raises(InvalidArgumentError, match=r"CreateProfile\.enabled may not"):
            body.enabled = None

    def test_types(self, gen: Any) -> None:
        request = attrs.fields_dict(attrs.resolve_types(gen.CreateProfile))
        assert get_args(request["enabled"].type) == (bool, Unset)
        assert get_args(request["note"].type) == (str, Unset, type(None))
        # Response-only models never show Unset to the user's type checker.
        for cls in (gen.EventPage, gen.TaskStart, gen.TaskEnd):
            for field in attrs.fields(attrs.resolve_types(cls)):
                assert Unset not in get_args(field.type), (cls, field.name)


class TestResponseNulls:
    def test_null_means_the_default(self, gen: Any) -> None:
        page = structure(
            event_page(urls=None, enabled=None, note=None, profiles=None), gen.EventPage
        )
        assert (page.urls, page.enabled, page.note, page.profiles) == ([], True, None, None)

    def test_absent_means_the_default(self, gen: Any) -> None:
        page = structure({"data": []}, gen.EventPage)
        assert (page.urls, page.enabled, page.profiles) == ([], True, None)

    def test_the_input_is_not_modified(self, gen: Any) -> None:
        data = event_page(urls=None)
        structure(data, gen.EventPage)
        assert data["urls"] is None

    def test_null_for_an_unset_field_of_a_shared_model(self, gen: Any) -> None:
        assert structure({"kind": "local", "path": None}, gen.Local) == gen.Local()


class TestToDict:
    def test_wire_values_and_masked_secrets(self, gen: Any) -> None:
        page = structure(event_page(token="s3cr3t"), gen.EventPage)
        data = page.to_dict()
        assert data["data"][0] == {
            "type": "TaskStart",
            "payload": {"task_id": "t1", "at": "2024-05-01T10:00:00+00:00"},
        }
        assert data["token"] == "<redacted>"
        assert "s3cr3t" not in page.to_json()
        assert page.to_dict(reveal_secrets=True)["token"] == "s3cr3t"
        assert json.loads(page.to_json(reveal_secrets=True)) == page.to_dict(reveal_secrets=True)

    def test_nested_secrets_are_masked_and_unset_ones_left_out(self, gen: Any) -> None:
        body = gen.CreateProfile(name="p", profile=gen.RestRemote(url="u", password="pw"))
        assert body.to_dict() == {
            "name": "p",
            "profile": {"kind": "rest_remote", "url": "u", "password": "<redacted>"},
        }
        # The wire body keeps them: it is what authenticates.
        assert unstructure(body)["profile"]["password"] == "pw"
        assert "pw" not in repr(body)
        assert gen.CreateProfile(name="p", profile=gen.Local()).to_dict() == {
            "name": "p",
            "profile": {"kind": "local"},
        }

    def test_a_null_secret_stays_null(self, gen: Any) -> None:
        assert gen.EventPage(data=[]).to_dict()["token"] is None

    def test_to_json_indent(self, gen: Any) -> None:
        assert gen.Local(path="/x").to_json(indent=1) == '{\n "kind": "local",\n "path": "/x"\n}'

    def test_secret_fields_come_from_the_spec(self, gen: Any) -> None:
        assert frozenset({"api_key", "password", "token"}) == gen.SECRET_FIELDS


class TestInt64:
    """`type: string, format: int64|uint64`: an `int` in the model, a string on the wire."""

    def test_fields_are_ints_marked_for_the_converter(self, gen: Any) -> None:
        clock = attrs.fields_dict(attrs.resolve_types(gen.Clock))
        assert clock["at"].type is int
        assert (clock["ticks"].type, clock["ticks"].default) == (int, 0)
        assert get_args(clock["size"].type) == (int, type(None))
        assert clock["at"].metadata == {"int64": "int64"}
        assert clock["size"].metadata == {"int64": "uint64"}
        assert clock["label"].metadata == {}
        request = attrs.fields_dict(attrs.resolve_types(gen.SetClock))
        assert get_args(request["limit"].type) == (int, Unset)
        assert get_args(request["offset"].type) == (int, Unset, type(None))

    def test_decoded_from_strings_and_numbers(self, gen: Any) -> None:
        clock = structure({"at": "1730937600", "ticks": 7, "size": None}, gen.Clock, strict=True)
        assert clock == gen.Clock(at=1730937600, ticks=7, size=None)
        assert structure({"at": "-9223372036854775808"}, gen.Clock).at == -(2**63)
        assert structure({"at": "0", "size": "18446744073709551615"}, gen.Clock).size == 2**64 - 1
        assert structure({"at": 12.0}, gen.Clock).at == 12

    def test_absent_or_null_is_the_default(self, gen: Any) -> None:
        assert structure({"at": "1", "ticks": None}, gen.Clock).ticks == 0
        assert structure({"at": "1"}, gen.Clock).ticks == 0

    @pytest.mark.parametrize(
        ("data", "problem"),
        [
            ({"at": "17x"}, "expected an int64 decimal string, got '17x' @ $.at"),
            ({"at": " 12"}, "expected an int64 decimal string, got ' 12' @ $.at"),
            ({"at": "1_000"}, "expected an int64 decimal string, got '1_000' @ $.at"),
            ({"at": ""}, "expected an int64 decimal string, got '' @ $.at"),
            ({"at": True}, "expected an int64 decimal string, got bool @ $.at"),
            ({"at": 1.5}, "expected an int64 decimal string, got float @ $.at"),
            ({"at": None}, "expected an int64 decimal string, got NoneType @ $.at"),
            ({"at": "9223372036854775808"}, "9223372036854775808 is out of the int64 range @ $.at"),
            ({"at": "1", "size": "-1"}, "-1 is out of the uint64 range @ $.size"),
        ],
    )
    def test_bad_values_name_the_wire_path(self, gen: Any, data: Any, problem: str) -> None:
        err = rejected(data, gen.Clock)
        assert err.problems == [problem]
        assert err.path == problem.rsplit(" @ ", 1)[1]

    def test_required_and_missing(self, gen: Any) -> None:
        assert rejected({}, gen.Clock).problems == ["required field missing @ $.at"]

    def test_written_as_strings(self, gen: Any) -> None:
        body = gen.SetClock(at=1730937600, limit=2**64 - 1, offset=None)
        assert unstructure(body) == {
            "at": "1730937600",
            "limit": "18446744073709551615",
            "offset": None,
        }
        assert unstructure(gen.SetClock(at=-5)) == {"at": "-5"}
        assert gen.Clock(at=3).to_dict() == {"at": "3", "ticks": "0", "size": None, "label": None}

    def test_round_trip(self, gen: Any) -> None:
        clock = gen.Clock(at=1730937600, ticks=2, size=9, label="x")
        assert structure(json.loads(clock.to_json()), gen.Clock, strict=True) == clock

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"at": "12"}, "at must be an int, got str"),
            ({"at": True}, "at must be an int, got bool"),
            ({"at": 2**63}, "at is out of the int64 range: 9223372036854775808"),
            ({"at": 1, "limit": -1}, "limit is out of the uint64 range: -1"),
        ],
    )
    def test_a_bad_value_is_refused_before_sending(
        self, gen: Any, kwargs: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            unstructure(gen.SetClock(**kwargs))
        assert str(info.value) == message

    def test_an_envelope_body_names_its_request_model(self, gen: Any) -> None:
        # x-controldeck-envelope made SetClock a request model: optional fields are UNSET.
        assert gen.SetClock(at=1).limit is UNSET


class TestSpecErrors:
    """What `prepare` refuses, before the generator runs."""

    @pytest.fixture
    def prepare(self) -> Iterator[Any]:
        sys.path.insert(0, str(ROOT / "codegen"))
        try:
            import generate  # type: ignore[import-not-found]
        finally:
            sys.path.remove(str(ROOT / "codegen"))
        yield generate.prepare

    @pytest.mark.parametrize(
        ("schema", "where"),
        [
            ({"type": "array", "items": {"type": "string", "format": "int64"}}, "T.ids.items"),
            (
                {"type": "object", "additionalProperties": {"type": "string", "format": "uint64"}},
                "T.ids.additionalProperties",
            ),
            (
                {"anyOf": [{"type": "string", "format": "int64"}, {"type": "null"}]},
                "T.ids.anyOf[0]",
            ),
        ],
    )
    def test_int64_strings_only_as_properties(
        self, prepare: Any, schema: dict[str, Any], where: str
    ) -> None:
        spec = {"components": {"schemas": {"T": {"type": "object", "properties": {"ids": schema}}}}}
        with pytest.raises(SystemExit, match=rf"^{re.escape(where)}: a `type: string, format"):
            prepare(spec)

    def test_the_spec_copy_is_rewritten_for_the_generator(self, prepare: Any) -> None:
        prop = {
            "type": ["string", "null"],
            "format": "uint64",
            "pattern": "^[0-9]+$",
            "default": "0",
        }
        spec = {"components": {"schemas": {"T": {"type": "object", "properties": {"n": prop}}}}}
        prepare(spec)
        assert prop == {
            "type": ["integer", "null"],
            "format": "int64",
            "default": 0,
            "x-controldeck-int64": "uint64",
        }


class TestUnset:
    def test_singleton_repr_and_falsy(self) -> None:
        assert repr(UNSET) == "UNSET"
        assert not UNSET
        assert copy.deepcopy(UNSET) is UNSET
        assert pickle.loads(pickle.dumps(UNSET)) is UNSET
        assert list(Unset) == [UNSET]


class Shade(OpenStrEnum):
    DARK = "dark"
    LIGHT = "light"


class TestOpenStrEnum:
    def test_unknown_marker(self) -> None:
        dim = structure("dim", Shade)
        assert (dim.name, dim.value, dim == "dim") == ("UNKNOWN", "dim", True)
        assert dim == Shade.UNKNOWN
        # Both operand orders, and != as well: each goes through a different method.
        assert Shade.UNKNOWN == dim  # noqa: SIM300
        assert Shade.DARK != Shade.UNKNOWN
        assert not (Shade.DARK == Shade.UNKNOWN)  # noqa: SIM201
        assert "dim" != Shade.UNKNOWN  # noqa: SIM300
        assert Shade.UNKNOWN is Shade.UNKNOWN
        assert list(Shade) == [Shade.DARK, Shade.LIGHT]

    def test_match_statement(self) -> None:
        def kind(shade: Shade) -> str:
            match shade:
                case Shade.DARK:
                    return "dark"
                case Shade.UNKNOWN:
                    return "new"
                case _:
                    return "other"

        assert [kind(structure(v, Shade)) for v in ("dark", "light", "dim")] == [
            "dark",
            "other",
            "new",
        ]

    def test_pseudo_members_pickle_and_copy(self) -> None:
        dim = structure("dim", Shade)
        again = pickle.loads(pickle.dumps(dim))
        assert (type(again), again.name, again) == (Shade, "UNKNOWN", "dim")
        assert copy.deepcopy(dim) is dim
        assert pickle.loads(pickle.dumps(Shade.DARK)) is Shade.DARK

    def test_callers_values_must_be_listed(self) -> None:
        assert Shade("dark") is Shade.DARK
        with pytest.raises(InvalidArgumentError) as info:
            Shade("drak")
        assert str(info.value) == "'drak' is not a valid Shade; expected one of: dark, light"
        with pytest.raises(ValueError, match="is not a valid Shade"):
            Shade(3)  # type: ignore[arg-type]

    def test_hash_follows_the_value(self) -> None:
        assert {Shade.DARK: 1}["dark"] == 1
        assert {structure("dim", Shade)} == {"dim"}
