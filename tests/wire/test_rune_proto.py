"""The committed protos (and the modules generated from them) say what the reference says.

`tests/wire/fixtures/rune-proto.md` is `../shared/reference/rune-proto.md` copied byte for
byte: every message, field (number, name, JSON name, type, repeated/map, oneof), enum value
and RPC (streaming on either side) listed there must be in the descriptors of
`controldeck._generated.rune_grpc`, and nothing more.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from controldeck._generated.rune_grpc import (
    admin_pb2,
    auth_pb2,
    common_pb2,
    configmap_pb2,
    exec_pb2,
    health_pb2,
    instance_pb2,
    logs_pb2,
    namespace_pb2,
    secret_pb2,
    service_pb2,
)

REFERENCE = Path(__file__).parent / "fixtures" / "rune-proto.md"
MODULES = {
    "common": common_pb2, "namespace": namespace_pb2, "service": service_pb2,
    "instance": instance_pb2, "logs": logs_pb2, "exec": exec_pb2, "health": health_pb2,
    "secret": secret_pb2, "configmap": configmap_pb2, "auth": auth_pb2, "admin": admin_pb2,
}  # fmt: skip
FIELD = re.compile(r"^\| (\d+) \| `(\w+)` \| `(\w+)` \| `([^`]+)` \| ?(\w*) ?\|$")
RPC = re.compile(r"^\| `(\w+)` \| `(stream )?(\w+)` \| `(stream )?(\w+)` \|$")
SCALARS = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool", 9: "string",
    12: "bytes", 13: "uint32",
}  # fmt: skip


def _reference() -> dict[str, dict[str, Any]]:
    """file stem -> {"message": {name: rows}, "enum": {name: values}, "service": {name: rows}}"""
    files: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    block: list[Any] | None = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^## (\w+)\.proto$", line):
            current = files.setdefault(m.group(1), {"message": {}, "enum": {}, "service": {}})
            block = None
        elif current is not None and (m := re.match(r"^### (message|enum|service) `(\w+)`$", line)):
            block = current[m.group(1)].setdefault(m.group(2), [])
        elif block is not None and (m := FIELD.match(line) or RPC.match(line)):
            block.append(m.groups())
        elif block is not None and line.startswith("`"):
            block.extend((n, int(v)) for n, v in re.findall(r"`(\w+)`=(\d+)", line))
    return files


REF = _reference()


def _type_of(field: Any) -> str:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = (
            field.message_type.fields_by_name["key"],
            field.message_type.fields_by_name["value"],
        )
        return f"map<{_type_of(key)},{_type_of(value)}>"
    if field.message_type is not None:
        base = field.message_type.name
    elif field.enum_type is not None:
        base = field.enum_type.name
    else:
        base = SCALARS[field.type]
    repeated = field.is_repeated
    return f"repeated {base}" if repeated else base


def test_the_reference_lists_eleven_files_and_57_rpcs() -> None:
    assert sorted(REF) == sorted(MODULES)
    assert sum(len(rows) for f in REF.values() for rows in f["service"].values()) == 57


@pytest.mark.parametrize("stem", sorted(MODULES))
def test_messages_match_the_reference(stem: str) -> None:
    descriptor = MODULES[stem].DESCRIPTOR
    assert descriptor.name == f"rune/api/{stem}.proto"
    assert descriptor.package == "rune.api"
    assert sorted(descriptor.message_types_by_name) == sorted(REF[stem]["message"])
    for name, rows in REF[stem]["message"].items():
        message = descriptor.message_types_by_name[name]
        got = [
            (
                str(f.number),
                f.name,
                f.json_name,
                _type_of(f),
                f.containing_oneof.name if f.containing_oneof else "",
            )
            for f in message.fields
        ]
        assert got == [tuple(r) for r in rows], name


@pytest.mark.parametrize("stem", sorted(MODULES))
def test_enums_and_services_match_the_reference(stem: str) -> None:
    descriptor = MODULES[stem].DESCRIPTOR
    enums = {
        name: [(v.name, v.number) for v in enum.values]
        for name, enum in descriptor.enum_types_by_name.items()
    }
    assert enums == REF[stem]["enum"]
    services = {
        name: [
            (
                m.name,
                "stream " if m.client_streaming else None,
                m.input_type.name,
                "stream " if m.server_streaming else None,
                m.output_type.name,
            )
            for m in service.methods
        ]
        for name, service in descriptor.services_by_name.items()
    }
    assert services == REF[stem]["service"]
