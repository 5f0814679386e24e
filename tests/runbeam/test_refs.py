"""parse_reference: the resource reference grammar of reference/runbeam.md §3.6."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controldeck.errors import InvalidArgumentError
from controldeck.runbeam import ResourceReference, ResourceType, parse_reference
from controldeck.runbeam._refs import RESOURCE_TYPES


@pytest.mark.parametrize(
    "ref, expected",
    [
        # 1 part: a bare name is the local reference local.name.name
        (
            "patient_api",
            ResourceReference(provider="local", by="name", value="patient_api"),
        ),
        # 3 parts: {provider}.name.{name} and {provider}.id.{id}
        (
            "runbeam.name.patient_api",
            ResourceReference(provider="runbeam", by="name", value="patient_api"),
        ),
        (
            "runbeam.id.01JGXYZ123ABC",
            ResourceReference(provider="runbeam", by="id", value="01JGXYZ123ABC"),
        ),
        (
            "local.name.patient_api",
            ResourceReference(provider="local", by="name", value="patient_api"),
        ),
        # 4 parts: {provider}.{team}.id.{id}
        (
            "runbeam.acme.id.01JGXYZ123ABC",
            ResourceReference(provider="runbeam", team="acme", by="id", value="01JGXYZ123ABC"),
        ),
        # 5 parts: {provider}.{team}.{type}.name|id.{value}
        (
            "runbeam.acme.ingress.name.patient_api",
            ResourceReference(
                provider="runbeam", team="acme", type="ingress", by="name", value="patient_api"
            ),
        ),
        (
            "runbeam.partner_lab.egress.id.01JGXYZ",
            ResourceReference(
                provider="runbeam", team="partner_lab", type="egress", by="id", value="01JGXYZ"
            ),
        ),
        (
            "runbeam.acme-healthcare.ingress.name.fhir-api",
            ResourceReference(
                provider="runbeam",
                team="acme-healthcare",
                type="ingress",
                by="name",
                value="fhir-api",
            ),
        ),
    ],
)
def test_grammar_forms(ref: str, expected: ResourceReference) -> None:
    parsed = parse_reference(ref)
    assert parsed == expected
    assert attrs.asdict(parsed) == attrs.asdict(expected)


@pytest.mark.parametrize("kind", list(ResourceType))
@pytest.mark.parametrize("by", ["name", "id"])
def test_every_resource_type(kind: ResourceType, by: str) -> None:
    parsed = parse_reference(f"runbeam.acme.{kind.value}.{by}.thing-1")
    assert (parsed.provider, parsed.team, parsed.type, parsed.by, parsed.value) == (
        "runbeam",
        "acme",
        kind.value,
        by,
        "thing-1",
    )


def test_resource_types_match_the_spec_enum() -> None:
    assert set(RESOURCE_TYPES) == {t.value for t in ResourceType}


def test_local_references() -> None:
    assert parse_reference("patient_api").is_local
    assert parse_reference("local.id.01JGXYZ").is_local
    assert parse_reference("local.acme.ingress.name.patient_api").is_local
    assert not parse_reference("runbeam.name.patient_api").is_local
    for ref in ("patient_api", "local.name.patient_api", "local.acme.id.01JGXYZ"):
        with pytest.raises(InvalidArgumentError, match="local"):
            parse_reference(ref, allow_local=False)
    assert parse_reference("runbeam.id.01JGXYZ", allow_local=False).provider == "runbeam"


def test_references_are_frozen() -> None:
    parsed = parse_reference("runbeam.id.01JGXYZ")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        parsed.value = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "ref",
    [
        "runbeam.acme",  # 2 parts
        "runbeam.acme.ingress.name.patient_api.extra",  # 6 parts
        "a.b.c.d.e.f.g",  # 7 parts
        "runbeam.code.patient_api",  # 3 parts, bad keyword
        "runbeam.NAME.patient_api",  # keywords are lowercase
        "runbeam.acme.name.patient_api",  # 4 parts take only `id`
        "runbeam.acme.ingress.code.patient_api",  # 5 parts, bad keyword
        "runbeam.acme.widget.name.patient_api",  # 5 parts, bad type
        "runbeam.acme.Ingress.name.patient_api",  # types are lowercase
        "runbeam.acme.service.id.01JGXYZ",  # not a resource type of the grammar
        "runbeam..id.01JGXYZ",  # empty parts
        ".name.patient_api",
        "runbeam.name.",
        "runbeam.acme.ingress.name.",
        "..",
        ".",
        "",
        "   ",
    ],
)
def test_bad_references(ref: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_reference(ref)


def test_bad_type_names_the_allowed_types() -> None:
    with pytest.raises(InvalidArgumentError, match="ingress, egress, pipeline"):
        parse_reference("runbeam.acme.widget.name.patient_api")


@pytest.mark.parametrize("bad", [None, 5, b"runbeam.id.x", ["runbeam", "id", "x"]])
def test_non_string_references(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_reference(bad)


_part = st.text(
    alphabet=st.characters(blacklist_characters=".", blacklist_categories=("Cs",)), min_size=1
)


@given(
    provider=_part,
    team=_part,
    kind=st.sampled_from(RESOURCE_TYPES),
    by=st.sampled_from(["name", "id"]),
    value=_part,
)
def test_five_part_references_round_trip(
    provider: str, team: str, kind: str, by: str, value: str
) -> None:
    parsed = parse_reference(f"{provider}.{team}.{kind}.{by}.{value}")
    assert (parsed.provider, parsed.team, parsed.type, parsed.by, parsed.value) == (
        provider,
        team,
        kind,
        by,
        value,
    )


@given(st.lists(_part, min_size=1, max_size=8))
def test_any_split_either_parses_or_is_invalid(parts: list[str]) -> None:
    try:
        parsed = parse_reference(".".join(parts))
    except InvalidArgumentError:
        return
    assert len(parts) in (1, 3, 4, 5)
    assert parsed.value == parts[-1]
