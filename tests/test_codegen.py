"""The generated models: committed output is current, secrets stay out of repr, enums stay open."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
import yaml

from controldeck._core._convert import structure
from controldeck._generated import runbeam
from controldeck._generated.runbeam import (
    AuthorizeResponse,
    ChangeStatus,
    CliCheckLoginResponse,
    CliLoginStatus,
    GatewayInfo,
    MeshTokenResponse,
)
from controldeck.errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_matches_specs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "codegen" / "generate.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_secret_value_not_in_repr() -> None:
    response = AuthorizeResponse(
        machine_token="mt_s3cr3t-value",
        expires_in=2592000.0,
        expires_at=datetime(2024, 12, 1, tzinfo=UTC),
        gateway=GatewayInfo(id="gateway-001", code="test-gateway", name="Test Gateway"),
    )
    text = repr(response)
    assert "mt_s3cr3t-value" not in text
    assert "machine_token=<redacted>" in text
    assert "gateway-001" in text  # the other fields still show
    assert response.machine_token == "mt_s3cr3t-value"  # only the repr hides it

    mesh = MeshTokenResponse(
        token="eyJ.secret.jwt", expires_at=datetime(2025, 12, 29, tzinfo=UTC), mesh_id="m-1"
    )
    assert "eyJ.secret.jwt" not in repr(mesh)
    login = CliCheckLoginResponse(status=CliLoginStatus.AUTHENTICATED, token="jwt-abc")
    assert "jwt-abc" not in repr(login)


def _secret_fields() -> list[tuple[str, str]]:
    spec = yaml.safe_load((ROOT / "openapi" / "runbeam.yaml").read_text(encoding="utf-8"))
    return sorted(
        (schema_name, prop_name)
        for schema_name, schema in spec["components"]["schemas"].items()
        for prop_name, prop in schema.get("properties", {}).items()
        if prop.get("x-controldeck-secret")
    )


@pytest.mark.parametrize(("class_name", "field_name"), _secret_fields())
def test_every_spec_secret_is_redacted(class_name: str, field_name: str) -> None:
    field = attrs.fields_dict(getattr(runbeam, class_name))[field_name]
    assert callable(field.repr)
    assert field.repr("the-secret") == "<redacted>"


def test_unknown_enum_value_becomes_unknown_member() -> None:
    status = structure("quarantined", ChangeStatus)
    assert isinstance(status, ChangeStatus)
    assert status.name == "UNKNOWN"
    assert status.value == "quarantined"
    assert status == "quarantined"
    assert status not in list(ChangeStatus)
    assert status == ChangeStatus.UNKNOWN
    assert ChangeStatus("pending") is ChangeStatus.PENDING


def test_a_callers_typo_is_not_an_unknown_member() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        ChangeStatus("pendng")
    assert str(info.value) == (
        "'pendng' is not a valid ChangeStatus; expected one of: "
        "pending, acknowledged, applied, failed, queued"
    )


def test_unknown_enum_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        ChangeStatus(3)  # type: ignore[arg-type]
