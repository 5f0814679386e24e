"""Generate ``src/controldeck/_generated/<platform>.py`` from ``openapi/<platform>.yaml``.

Usage (from anywhere; the generator always runs from the repository root)::

    python codegen/generate.py           # (re)write every generated module
    python codegen/generate.py --check   # regenerate into a temp dir, diff, exit 1 on drift

Each spec is first read here (``prepare``): adjacently tagged unions are rewritten to plain
``oneOf``s of their payloads, and what the templates need to know about each schema (is it a
request body? is it a tagged union, and how?) becomes ``--extra-template-data``. Then the
spec goes to datamodel-code-generator 0.89.0 with our attrs templates, and the wire names of
the spec's secret fields are appended as ``SECRET_FIELDS``. See ``codegen/README.md`` for the
flags, the vendor extensions and why each is there.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = "openapi"
OUT_DIR = "src/controldeck/_generated"
# Modules in OUT_DIR that are written by hand, not generated from a spec.
HANDWRITTEN = frozenset({"__init__.py"})

# Relative paths only: the generator runs with cwd=ROOT, which keeps the header stable.
FLAGS = (
    "--input-file-type", "openapi",
    "--output-model-type", "dataclasses.dataclass",
    "--custom-template-dir", "codegen/templates",
    "--custom-formatters", "attrs_imports",
    "--additional-imports", ",".join((
        "attrs",
        "typing.Annotated",
        "controldeck._core._models.UNSET",
        "controldeck._core._models.Model",
        "controldeck._core._models.OpenStrEnum",
        "controldeck._core._models.TaggedUnion",
        "controldeck._core._models.UnknownVariant",
        "controldeck._core._models.Unset",
        "controldeck._core._models.not_null",
    )),
    "--snake-case-field",
    "--capitalise-enum-members",
    "--target-python-version", "3.11",
    "--output-datetime-class", "datetime",
    "--disable-timestamp",
    "--formatters", "builtin",
    "--use-double-quotes",
    "--use-schema-description",
    "--use-field-description",
    "--use-one-literal-as-default",
    "--enable-version-header",
    "--field-extra-keys", "x-controldeck-secret", "x-controldeck-int64",
    # `format: binary` would become `bytes`, which cattrs' json preconf decodes as base85.
    "--type-mappings", "binary=string",
)  # fmt: skip


def _specs() -> list[str]:
    return sorted(p.name for p in (ROOT / SPEC_DIR).glob("*.yaml"))


def _generator() -> list[str]:
    """The datamodel-codegen command of the running interpreter's environment."""
    return [sys.executable, "-m", "datamodel_code_generator"]


class SpecError(SystemExit):
    """The spec uses a construct the generator cannot turn into correct models."""


def _ref_name(ref: str) -> str:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise SpecError(f"only component refs are supported, got {ref!r}")
    return ref[len(prefix) :]


def _children(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The subschemas one level down (properties, items, maps, compositions)."""
    out: list[dict[str, Any]] = list(schema.get("properties", {}).values())
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            out.append(schema[key])
    for key in ("oneOf", "anyOf", "allOf"):
        out.extend(schema.get(key, []))
    return out


def _request_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of the component schemas reachable from any requestBody."""
    schemas = spec.get("components", {}).get("schemas", {})
    # (schema, where it was found, whether it is a named component itself)
    todo: list[tuple[dict[str, Any], str, bool]] = [
        (media["schema"], f"{method.upper()} {path}", False)
        for path, item in spec.get("paths", {}).items()
        for method, op in item.items()
        if isinstance(op, dict) and "requestBody" in op
        for media in op["requestBody"].get("content", {}).values()
        if "schema" in media
    ]
    # A body OpenAPI cannot describe (a Connect envelope) names its message instead.
    todo += [
        ({"$ref": f"#/components/schemas/{media['x-controldeck-envelope']}"}, path, False)
        for path, item in spec.get("paths", {}).items()
        for op in item.values()
        if isinstance(op, dict) and "requestBody" in op
        for media in op["requestBody"].get("content", {}).values()
        if "x-controldeck-envelope" in media
    ]
    found: set[str] = set()
    while todo:
        schema, where, named = todo.pop()
        if "$ref" in schema:
            name = _ref_name(schema["$ref"])
            if name not in found:
                found.add(name)
                todo.append((schemas[name], name, True))
            continue
        if schema.get("properties") and not named:
            # An inline object gets a class name the template data cannot address.
            raise SpecError(
                f"{where}: request bodies must use named schemas ($ref), not inline objects"
            )
        todo.extend((child, where, False) for child in _children(schema))
    return found


def _unions(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Template data of every tagged union; adjacent ones are rewritten in place.

    Internally tagged: ``oneOf`` + ``discriminator`` (``mapping``, or the schema names).
    Adjacently tagged: ``x-controldeck-adjacent: {tag, content}`` on a ``oneOf`` whose
    branches are ``{<tag>: {const: <value>}, <content>: {$ref: <member>}}`` wrappers; the
    spec keeps describing the wire, the models get ``<member> | ...`` by tag.
    """
    schemas = spec.get("components", {}).get("schemas", {})
    out: dict[str, dict[str, Any]] = {}
    for name, schema in schemas.items():
        adjacent = schema.get("x-controldeck-adjacent")
        if adjacent is not None:
            tag, content = adjacent["tag"], adjacent["content"]
            members = []
            for branch in schema["oneOf"]:
                props = branch.get("properties", {})
                if "const" not in props.get(tag, {}) or "$ref" not in props.get(content, {}):
                    raise SpecError(
                        f"{name}: each branch of an adjacent union needs `{tag}: {{const: ...}}` "
                        f"and `{content}: {{$ref: ...}}`"
                    )
                members.append((props[tag]["const"], _ref_name(props[content]["$ref"])))
            schema["oneOf"] = [{"$ref": f"#/components/schemas/{m}"} for _, m in members]
            del schema["x-controldeck-adjacent"]
            out[name] = {"tag": tag, "content": content, "members": members}
        elif "oneOf" in schema and "discriminator" in schema:
            disc = schema["discriminator"]
            mapping = disc.get("mapping") or {
                _ref_name(b["$ref"]): b["$ref"] for b in schema["oneOf"]
            }
            members = [(value, _ref_name(ref)) for value, ref in mapping.items()]
            out[name] = {"tag": disc["propertyName"], "content": None, "members": members}
    for name, data in out.items():
        data["unknown"] = unknown = f"Unknown{name}"
        if unknown in schemas:
            raise SpecError(f"{name}: the schema name {unknown} is taken by the union's fallback")
    return out


# protojson (and other JSON APIs) carry 64-bit integers as decimal strings.
INT64_FORMATS = ("int64", "uint64")


def _is_int64_string(schema: dict[str, Any]) -> bool:
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    return "string" in types and schema.get("format") in INT64_FORMATS


def _int64_fields(spec: dict[str, Any]) -> None:
    """Rewrite ``type: string, format: int64|uint64`` properties, in place, for the generator.

    The spec keeps describing the wire (a decimal string); the model gets an ``int`` field
    marked ``x-controldeck-int64: <format>``, which the template turns into
    ``metadata={"int64": <format>}`` and the converter into str <-> int hooks.
    """

    def visit(schema: Any, where: str, is_property: bool) -> None:
        if not isinstance(schema, dict):
            return
        if _is_int64_string(schema):
            if not is_property:
                raise SpecError(
                    f"{where}: a `type: string, format: {schema['format']}` schema is supported "
                    "as an object property only (not in items, maps or compositions)"
                )
            kind = schema["format"]
            types = schema["type"]
            if isinstance(types, str):
                schema["type"] = "integer"
            else:
                schema["type"] = [t if t != "string" else "integer" for t in types]
            schema["format"] = "int64"
            schema.pop("pattern", None)
            if isinstance(schema.get("default"), str):
                schema["default"] = int(schema["default"])
            schema["x-controldeck-int64"] = kind
            return
        for name, sub in schema.get("properties", {}).items():
            visit(sub, f"{where}.{name}", True)
        for key in ("items", "additionalProperties"):
            visit(schema.get(key), f"{where}.{key}", False)
        for key in ("oneOf", "anyOf", "allOf"):
            for i, sub in enumerate(schema.get(key, [])):
                visit(sub, f"{where}.{key}[{i}]", False)

    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        visit(schema, name, False)


def _secret_fields(spec: dict[str, Any]) -> list[str]:
    """Wire names of every property marked ``x-controldeck-secret: true``."""
    names: set[str] = set()
    todo = list(spec.get("components", {}).get("schemas", {}).values())
    while todo:
        schema = todo.pop()
        for prop, sub in schema.get("properties", {}).items():
            if sub.get("x-controldeck-secret"):
                names.add(prop)
        todo.extend(_children(schema))
    return sorted(names)


def prepare(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rewrite ``spec`` in place for the generator; return (template data, secret names)."""
    data: dict[str, Any] = {name: {"request": True} for name in sorted(_request_schemas(spec))}
    _int64_fields(spec)
    for name, union in _unions(spec).items():
        data.setdefault(name, {})["union"] = union
    return data, _secret_fields(spec)


def _secrets_block(names: list[str]) -> str:
    lines = "".join(f"        {json.dumps(n)},\n" for n in names)
    return (
        "\n\nSECRET_FIELDS: frozenset[str] = frozenset(\n    {\n" + lines + "    }\n)\n"
        '"""Wire names of the fields the spec marks `x-controldeck-secret` (for redaction)."""\n'
    )


def generate_module(spec: Path, work: Path) -> bytes:
    """Generate the module for the spec file ``spec``, using the scratch dir ``work``.

    Also what the tests call on their fixture specs.
    """
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    template_data, secrets = prepare(document)
    # Same file name as the original: the generated header names it.
    prepared = work / "spec" / spec.name
    prepared.parent.mkdir(parents=True, exist_ok=True)
    prepared.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")
    output = work / f"{spec.stem}.py"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "codegen")  # the attrs_imports custom formatter
    cmd = [
        *_generator(), "--input", str(prepared), *FLAGS,
        "--extra-template-data", json.dumps(template_data, sort_keys=True),
        "--output", str(output),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"datamodel-codegen failed for {spec}:\n{proc.stderr}")
    return output.read_bytes() + _secrets_block(secrets).encode()


def _generate_all(out_dir: str) -> dict[str, bytes]:
    """Generate every spec using the scratch dir ``out_dir``; return module name -> content."""
    specs = _specs()
    work = {spec: Path(out_dir) / Path(spec).stem for spec in specs}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        modules = list(pool.map(lambda s: generate_module(ROOT / SPEC_DIR / s, work[s]), specs))
    return {f"{Path(spec).stem}.py": module for spec, module in zip(specs, modules, strict=True)}


def _orphans(expected: set[str]) -> list[str]:
    """Generated modules whose spec is gone."""
    found = {p.name for p in (ROOT / OUT_DIR).glob("*.py")} - HANDWRITTEN
    return sorted(found - expected)


def _diff(name: str, old: bytes, new: bytes) -> str:
    path = f"{OUT_DIR}/{name}"
    return "".join(
        difflib.unified_diff(
            old.decode().splitlines(keepends=True),
            new.decode().splitlines(keepends=True),
            fromfile=f"a/{path} (committed)",
            tofile=f"b/{path} (regenerated)",
        )
    )


def check() -> int:
    """Regenerate into a temp dir and compare with the committed modules."""
    with tempfile.TemporaryDirectory(prefix="controldeck-codegen-") as tmp:
        fresh = _generate_all(tmp)
    drift = False
    for name, new in fresh.items():
        committed = ROOT / OUT_DIR / name
        if not committed.exists():
            print(f"missing: {OUT_DIR}/{name} (run `make generate`)")
            drift = True
        elif (old := committed.read_bytes()) != new:
            sys.stdout.write(_diff(name, old, new))
            drift = True
    for name in _orphans(set(fresh)):
        print(f"orphan: {OUT_DIR}/{name} has no spec in {SPEC_DIR}/ (delete it)")
        drift = True
    if drift:
        print("generated code is out of date: run `make generate` and commit the result")
        return 1
    return 0


def write() -> int:
    """Regenerate and rewrite the modules that changed."""
    with tempfile.TemporaryDirectory(prefix="controldeck-codegen-") as tmp:
        fresh = _generate_all(tmp)
    for name, new in fresh.items():
        target = ROOT / OUT_DIR / name
        if not target.exists() or target.read_bytes() != new:
            target.write_bytes(new)
            print(f"wrote {OUT_DIR}/{name}")
    orphans = _orphans(set(fresh))
    for name in orphans:
        print(f"orphan: {OUT_DIR}/{name} has no spec in {SPEC_DIR}/ (delete it)", file=sys.stderr)
    return 1 if orphans else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="diff against the committed modules; exit 1 on drift"
    )
    args = parser.parse_args(argv)
    return check() if args.check else write()


if __name__ == "__main__":
    sys.exit(main())
