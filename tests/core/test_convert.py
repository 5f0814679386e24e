"""The cattrs converter: wire names, strict primitives, open enums, datetimes, error paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controldeck._core._convert import structure, unstructure
from controldeck._core._models import UNSET, OpenStrEnum, Unset
from controldeck.errors import InvalidArgumentError, ResponseValidationError


class Status(OpenStrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


@attrs.define(kw_only=True)
class Address:
    host: str
    port: int


@attrs.define(kw_only=True)
class Gateway:
    id: str
    status: Status
    created_at: datetime = attrs.field(metadata={"wire": "createdAt"})
    address: Address | None = None
    last_seen_at: datetime | None = attrs.field(default=None, metadata={"wire": "lastSeenAt"})
    from_: str | None = attrs.field(default=None, metadata={"wire": "from"})
    max_connections: int | None = attrs.field(default=10, metadata={"wire": "maxConnections"})
    weight: float | None = None
    enabled: bool | None = None
    labels: dict[str, str] | None = None


@attrs.define(kw_only=True)
class Envelope:
    data: list[Gateway]
    has_more: bool = attrs.field(metadata={"wire": "hasMore"})


@attrs.define(kw_only=True)
class GatewayUpdate:
    """A request body: optional fields default to UNSET and only UNSET is left out."""

    id: str
    status: Status
    created_at: datetime = attrs.field(metadata={"wire": "createdAt"})
    address: Address | Unset = UNSET
    from_: str | Unset = attrs.field(default=UNSET, metadata={"wire": "from"})
    max_connections: int | Unset = attrs.field(default=UNSET, metadata={"wire": "maxConnections"})
    enabled: bool | Unset = UNSET


def gateway_json(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "gw-1",
        "status": "active",
        "createdAt": "2024-05-01T10:00:00Z",
    }
    base.update(overrides)
    return base


def validation_error(data: object, cls: type, **kwargs: object) -> ResponseValidationError:
    with pytest.raises(ResponseValidationError) as info:
        structure(data, cls, **kwargs)  # type: ignore[arg-type]
    return info.value


# -- wire names --------------------------------------------------------------------------


class TestWireNames:
    def test_structure_reads_wire_names(self) -> None:
        gw = structure(
            gateway_json(
                lastSeenAt="2024-05-02T00:00:00+02:00",
                **{"from": "me", "maxConnections": 5},
                address={"host": "a.example", "port": 8080},
            ),
            Gateway,
        )
        assert gw == Gateway(
            id="gw-1",
            status=Status.ACTIVE,
            created_at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            address=Address(host="a.example", port=8080),
            last_seen_at=datetime(2024, 5, 2, tzinfo=timezone(timedelta(hours=2))),
            from_="me",
            max_connections=5,
        )

    def test_python_names_on_the_wire_are_not_read(self) -> None:
        # `created_at` is not the wire name, so the required `createdAt` is missing.
        err = validation_error(
            {"id": "x", "status": "active", "created_at": "2024-05-01T10:00:00Z"}, Gateway
        )
        assert err.path == "$.createdAt"
        assert err.problems == ["required field missing @ $.createdAt"]

    def test_defaults_apply_when_absent(self) -> None:
        gw = structure(gateway_json(), Gateway)
        assert gw.max_connections == 10
        assert gw.last_seen_at is None
        assert gw.from_ is None

    def test_unstructure_uses_wire_names_and_omits_unset(self) -> None:
        gw = GatewayUpdate(
            id="gw-1",
            status=Status.STOPPED,
            created_at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            from_="me",
        )
        assert unstructure(gw) == {
            "id": "gw-1",
            "status": "stopped",
            "createdAt": "2024-05-01T10:00:00+00:00",
            "from": "me",
        }

    def test_unstructure_keeps_set_values_and_nests(self) -> None:
        gw = GatewayUpdate(
            id="g",
            status=Status.ACTIVE,
            created_at=datetime(2024, 1, 1, tzinfo=UTC),
            address=Address(host="h", port=1),
            max_connections=3,
            enabled=False,
        )
        assert unstructure({"items": [gw]}) == {
            "items": [
                {
                    "id": "g",
                    "status": "active",
                    "createdAt": "2024-01-01T00:00:00+00:00",
                    "address": {"host": "h", "port": 1},
                    "maxConnections": 3,
                    "enabled": False,
                }
            ]
        }


# -- strict primitives -------------------------------------------------------------------


class TestStrictPrimitives:
    @pytest.mark.parametrize(
        ("value", "kind", "expected"),
        [
            ("12", int, "expected int, got str"),
            ("maybe", bool, "expected bool, got str"),
            (3.9, int, "expected int, got float 3.9"),
            (5, str, "expected str, got int 5"),
            (True, int, "expected int, got bool True"),
            (1, bool, "expected bool, got int 1"),
            ("1.5", float, "expected float, got str"),
            (None, str, "expected str, got NoneType None"),
        ],
    )
    def test_rejected(self, value: object, kind: type, expected: str) -> None:
        err = validation_error(value, kind)
        assert err.path == "$"
        assert err.problems == [f"{expected} @ $"]

    def test_integral_float_accepted_for_int_and_made_an_int(self) -> None:
        # JSON Schema counts 2592000.0 as an integer (Runbeam's expires_in is sent that way).
        value = structure(2592000.0, int)
        assert value == 2592000
        assert type(value) is int

    def test_int_accepted_for_float_and_made_a_float(self) -> None:
        value = structure(1, float)
        assert value == 1.0
        assert type(value) is float

    @pytest.mark.parametrize(
        ("value", "kind"), [(12, int), (True, bool), (False, bool), ("x", str), (2.5, float)]
    )
    def test_exact_types_accepted(self, value: object, kind: type) -> None:
        assert structure(value, kind) == value

    def test_field_path_uses_wire_name(self) -> None:
        err = validation_error(gateway_json(maxConnections="80"), Gateway)
        assert err.path == "$.maxConnections"
        assert "expected int, got str @ $.maxConnections" in err.problems

    def test_a_string_is_not_a_list(self) -> None:
        # cattrs alone would turn "abc" into ["a", "b", "c"] and {"a": 1} into ["a"].
        err = validation_error({"data": "abc", "hasMore": False}, Envelope)
        assert err.problems == ["expected an array, got str @ $.data"]
        err = validation_error({"a": 1}, list[str])
        assert err.problems == ["expected an array, got dict @ $"]


# -- unknown keys ------------------------------------------------------------------------


class TestUnknownKeys:
    def test_ignored_by_default(self) -> None:
        gw = structure(
            gateway_json(futureField=1, address={"host": "h", "port": 1, "x": 2}), Gateway
        )
        assert gw.address == Address(host="h", port=1)

    def test_strict_rejects_top_level_with_path(self) -> None:
        err = validation_error(gateway_json(futureField=1), Gateway, strict=True)
        assert err.path == "$"
        assert err.problems == ["unexpected fields ['futureField'] @ $"]

    def test_strict_rejects_nested_with_path(self) -> None:
        data = {"data": [gateway_json(), gateway_json(address={"host": "h", "port": 1, "zz": 0})]}
        err = validation_error({**data, "hasMore": False}, Envelope, strict=True)
        assert err.path == "$.data[1].address"
        assert err.problems == ["unexpected fields ['zz'] @ $.data[1].address"]

    def test_strict_accepts_exact_shape(self) -> None:
        assert structure(gateway_json(), Gateway, strict=True).id == "gw-1"


# -- enums -------------------------------------------------------------------------------


class TestOpenEnums:
    def test_known_value(self) -> None:
        assert structure("stopped", Status) is Status.STOPPED

    def test_unknown_value_becomes_pseudo_member(self) -> None:
        status = structure("quarantined", Status)
        assert isinstance(status, Status)
        assert status == "quarantined"
        assert status.name == "UNKNOWN"
        assert status.value == "quarantined"
        assert list(Status) == [Status.ACTIVE, Status.STOPPED]
        assert unstructure(status) == "quarantined"

    def test_unknown_value_inside_a_model(self) -> None:
        gw = structure(gateway_json(status="draining"), Gateway)
        assert gw.status == "draining"
        assert unstructure(gw)["status"] == "draining"

    def test_non_string_is_rejected(self) -> None:
        err = validation_error(5, Status)
        assert err.problems == ["expected a string for Status, got int @ $"]


# -- datetimes ---------------------------------------------------------------------------


class TestDatetimes:
    def test_z_is_utc(self) -> None:
        gw = structure(gateway_json(createdAt="2024-05-01T10:00:00.250Z"), Gateway)
        assert gw.created_at == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
        assert gw.created_at.utcoffset() == timedelta(0)

    def test_offset_kept(self) -> None:
        gw = structure(gateway_json(createdAt="2024-05-01T12:00:00+02:00"), Gateway)
        assert gw.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
        assert gw.created_at.utcoffset() == timedelta(hours=2)

    @pytest.mark.parametrize("naive", ["2024-05-01T10:00:00", "2024-05-01 10:00:00"])
    def test_naive_rejected(self, naive: str) -> None:
        err = validation_error(gateway_json(createdAt=naive), Gateway)
        assert err.path == "$.createdAt"
        assert err.problems == [f"date-time {naive!r} has no timezone offset @ $.createdAt"]

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("yesterday", "Invalid isoformat string: 'yesterday'"),
            (1714557600, "expected an ISO 8601 date-time string, got int"),
        ],
    )
    def test_garbage_rejected(self, value: object, problem: str) -> None:
        err = validation_error(gateway_json(createdAt=value), Gateway)
        assert err.problems == [f"{problem} @ $.createdAt"]


# -- errors ------------------------------------------------------------------------------


class TestErrorPaths:
    def test_nested_list_item_path(self) -> None:
        data = [gateway_json(id=f"g{i}") for i in range(5)]
        data[3]["status"] = 7
        err = validation_error({"data": data, "hasMore": True}, Envelope)
        assert err.path == "$.data[3].status"
        assert err.problems == ["expected a string for Status, got int @ $.data[3].status"]
        assert str(err) == (
            "The reply did not match Envelope: expected a string for Status, got int "
            "@ $.data[3].status"
        )

    def test_every_problem_is_listed(self) -> None:
        data = [gateway_json(), gateway_json(address={"host": "h"}), gateway_json(id=3)]
        err = validation_error({"data": data, "hasMore": "maybe"}, Envelope)
        assert sorted(err.problems) == sorted(
            [
                "required field missing @ $.data[1].address.port",
                "expected str, got int 3 @ $.data[2].id",
                "expected bool, got str @ $.hasMore",
            ]
        )
        assert err.path in {"$.data[1].address.port", "$.data[2].id", "$.hasMore"}
        assert "(and 2 more)" in str(err)

    def test_map_value_path(self) -> None:
        err = validation_error(gateway_json(labels={"env": "prod", "tier": 1}), Gateway)
        assert err.path == "$.labels['tier']"

    def test_context_is_carried_into_the_error(self) -> None:
        context = {"status_code": 200, "request_id": "req-9", "body_excerpt": '{"id": 1}'}
        err = validation_error({"id": 1}, Address, error_context=lambda: context)
        assert (err.status_code, err.request_id, err.body_excerpt) == (200, "req-9", '{"id": 1}')
        assert isinstance(err.__cause__, Exception)

    def test_context_is_not_built_on_success(self) -> None:
        calls: list[int] = []
        structure({"host": "h", "port": 80}, Address, error_context=lambda: calls.append(1) or {})
        assert calls == []

    @pytest.mark.parametrize(
        ("value", "kind"), [("nope", "str"), (None, "NoneType"), ([], "list"), (5, "int")]
    )
    def test_not_an_object(self, value: object, kind: str) -> None:
        # Laravel sends `[]` for an empty PHP array where an object was expected.
        err = validation_error(value, Address)
        assert err.problems == [f"expected an object, got {kind} @ $"]

    def test_not_an_object_nested(self) -> None:
        err = validation_error({"data": [gateway_json(), None], "hasMore": True}, Envelope)
        assert err.problems == ["expected an object, got NoneType @ $.data[1]"]


# -- int64 as decimal strings ------------------------------------------------------------


@attrs.define(kw_only=True)
class Token:
    """A protojson message: int64/uint64 fields travel as decimal strings."""

    id: str
    issued_at: int = attrs.field(metadata={"wire": "issuedAt", "int64": "int64"})
    expires_at: int = attrs.field(default=0, metadata={"wire": "expiresAt", "int64": "int64"})
    bytes_sent: int | None = attrs.field(default=None, metadata={"int64": "uint64"})


@attrs.define(kw_only=True)
class TokenRequest:
    name: str
    ttl_seconds: int | Unset = attrs.field(
        default=UNSET, metadata={"wire": "ttlSeconds", "int64": "int64"}
    )
    quota: int | Unset | None = attrs.field(default=UNSET, metadata={"int64": "uint64"})


@attrs.define(kw_only=True)
class Tokens:
    tokens: list[Token]


class TestInt64:
    def test_strings_and_numbers_become_ints(self) -> None:
        data = {"id": "t", "issuedAt": "1730937600", "expiresAt": 0, "bytes_sent": "42"}
        assert structure(data, Token) == Token(
            id="t", issued_at=1730937600, expires_at=0, bytes_sent=42
        )
        assert structure(data, Token, strict=True).issued_at == 1730937600

    def test_null_and_absent(self) -> None:
        token = structure(
            {"id": "t", "issuedAt": "1", "expiresAt": None, "bytes_sent": None}, Token
        )
        assert (token.expires_at, token.bytes_sent) == (0, None)
        assert structure({"id": "t", "issuedAt": "1"}, Token).expires_at == 0

    def test_the_limits(self) -> None:
        low = structure({"id": "t", "issuedAt": str(-(2**63))}, Token)
        high = structure({"id": "t", "issuedAt": "0", "bytes_sent": str(2**64 - 1)}, Token)
        assert (low.issued_at, high.bytes_sent) == (-(2**63), 2**64 - 1)

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("soon", "expected an int64 decimal string, got 'soon'"),
            ("1e3", "expected an int64 decimal string, got '1e3'"),
            ("+5", "expected an int64 decimal string, got '+5'"),
            ("\u0661", "expected an int64 decimal string, got '\u0661'"),
            ([1], "expected an int64 decimal string, got list"),
            (False, "expected an int64 decimal string, got bool"),
            (str(2**63), f"{2**63} is out of the int64 range"),
            ("1" * 30, "expected an int64 decimal string, got '111111111111111111111111111111'"),
        ],
    )
    def test_a_bad_reply_names_the_wire_path(self, value: object, problem: str) -> None:
        err = validation_error(
            {"tokens": [{"id": "t", "issuedAt": "1"}, {"id": "u", "issuedAt": value}]}, Tokens
        )
        assert err.path == "$.tokens[1].issuedAt"
        assert err.problems == [f"{problem} @ $.tokens[1].issuedAt"]

    def test_strict_converter_too(self) -> None:
        err = validation_error({"id": "t", "issuedAt": "x"}, Token, strict=True)
        assert err.problems == ["expected an int64 decimal string, got 'x' @ $.issuedAt"]

    def test_uint64_refuses_negatives(self) -> None:
        err = validation_error({"id": "t", "issuedAt": "1", "bytes_sent": "-1"}, Token)
        assert err.problems == ["-1 is out of the uint64 range @ $.bytes_sent"]

    def test_written_as_strings(self) -> None:
        assert unstructure(Token(id="t", issued_at=1730937600)) == {
            "id": "t",
            "issuedAt": "1730937600",
            "expiresAt": "0",
            "bytes_sent": None,
        }
        assert unstructure(TokenRequest(name="n")) == {"name": "n"}
        assert unstructure(TokenRequest(name="n", ttl_seconds=3600, quota=None)) == {
            "name": "n",
            "ttlSeconds": "3600",
            "quota": None,
        }

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"ttl_seconds": "3600"}, "ttlSeconds must be an int, got str"),
            ({"ttl_seconds": 3600.0}, "ttlSeconds must be an int, got float"),
            ({"ttl_seconds": True}, "ttlSeconds must be an int, got bool"),
            (
                {"ttl_seconds": -(2**63) - 1},
                f"ttlSeconds is out of the int64 range: {-(2**63) - 1}",
            ),
            ({"quota": -1}, "quota is out of the uint64 range: -1"),
        ],
    )
    def test_a_bad_value_is_an_argument_error(
        self, kwargs: dict[str, object], message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            unstructure(TokenRequest(name="n", **kwargs))  # type: ignore[arg-type]
        assert str(info.value) == message

    def test_an_unknown_kind_is_a_programming_error(self) -> None:
        @attrs.define
        class Odd:
            n: int = attrs.field(metadata={"int64": "int128"})

        with pytest.raises(TypeError, match="unknown int64 kind 'int128'"):
            unstructure(Odd(n=1))

    @settings(max_examples=100, deadline=None, database=None)
    @given(st.integers(-(2**63), 2**63 - 1), st.none() | st.integers(0, 2**64 - 1))
    def test_round_trip(self, issued_at: int, bytes_sent: int | None) -> None:
        token = Token(id="t", issued_at=issued_at, bytes_sent=bytes_sent)
        wire = json.loads(json.dumps(unstructure(token)))
        assert wire["issuedAt"] == str(issued_at)
        assert structure(wire, Token, strict=True) == token


# -- round trip --------------------------------------------------------------------------

_aware = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)
_text = st.text(max_size=20)
_gateways = st.builds(
    Gateway,
    id=_text,
    status=st.sampled_from(Status)
    | st.sampled_from(["quarantined", "x"]).map(Status._pseudo_member),
    created_at=_aware,
    address=st.none() | st.builds(Address, host=_text, port=st.integers()),
    last_seen_at=st.none() | _aware,
    from_=st.none() | _text,
    max_connections=st.none() | st.integers(),
    weight=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    enabled=st.none() | st.booleans(),
    labels=st.none() | st.dictionaries(_text, _text, max_size=3),
)


@settings(max_examples=150, deadline=None, database=None)
@given(_gateways)
def test_round_trip_through_json(gateway: Gateway) -> None:
    wire = json.loads(json.dumps(unstructure(gateway)))
    again = structure(wire, Gateway)
    assert again == gateway
    assert again.created_at.utcoffset() == gateway.created_at.utcoffset()
    assert structure(wire, Gateway, strict=True) == gateway
