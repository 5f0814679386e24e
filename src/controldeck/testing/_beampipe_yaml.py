"""Project configs for `FakeBeampipe`: a small YAML reader and the server's validation.

The reader covers the block YAML project configs are written in (nested mappings and
sequences, `- key: value` items, flow lists and maps, quoted and plain scalars, `|` and
`>` block scalars, comments). It is no general YAML parser: anchors, tags and multi-line
flow collections are reported as syntax errors.

`validate_project_config` answers what `POST /project-configs` does: a `ValidationReport`
and, when valid, the spec to store.
"""

from __future__ import annotations

import json
import re
from typing import Any

from controldeck.testing._beampipe_wire import (
    AnyT,
    Bool,
    Int,
    Json,
    ListOf,
    Opt,
    Str,
    Struct,
    _DataError,
    sha256_hex,
)

__all__ = ["WALLABY_OUTPUT_INVENTORY_SCHEMA", "YamlError", "parse_yaml", "validate_project_config"]

WALLABY_OUTPUT_INVENTORY_SCHEMA = "wallaby-hires-output-inventory/v1"

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


class YamlError(Exception):
    """A syntax error with its 1-based line and column (serde_yaml's wording)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} at line {line} column {column}")
        self.line = line
        self.column = column


def parse_yaml(text: str) -> Any:
    """The value of a block-style YAML document (None for an empty one).

    Raises:
        YamlError: The text is not YAML this reader understands.

    Example:
        >>> parse_yaml("metadata:\\n  id: demo\\nadapters:\\n  required: [casda]\\n")
        {'metadata': {'id': 'demo'}, 'adapters': {'required': ['casda']}}
    """
    return _Reader(text).document()


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.pos = 0

    # -- lines --------------------------------------------------------------------------------

    def _skip(self) -> None:
        while self.pos < len(self.lines):
            stripped = self.lines[self.pos].strip()
            if stripped and not stripped.startswith("#") and stripped != "---":
                return
            self.pos += 1

    def _indent(self) -> int:
        line = self.lines[self.pos]
        body = line.lstrip(" ")
        if body.startswith("\t"):
            raise YamlError(
                "found character that cannot start any token",
                self.pos + 1,
                len(line) - len(body) + 1,
            )
        return len(line) - len(body)

    def _at_end(self) -> bool:
        self._skip()
        return self.pos >= len(self.lines)

    def document(self) -> Any:
        if self._at_end():
            return None
        value = self._node(self._indent())
        if not self._at_end():
            raise YamlError(
                "did not find expected <document start>", self.pos + 1, self._indent() + 1
            )
        return value

    def _node(self, indent: int) -> Any:
        content = self.lines[self.pos][indent:]
        if content == "-" or content.startswith("- "):
            return self._sequence(indent)
        if _split_key(content) is None:
            value = self._scalar(content, self.pos + 1, indent + 1)
            self.pos += 1
            return value
        return self._mapping(indent)

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while not self._at_end() and self._indent() == indent:
            line_no = self.pos + 1
            content = self.lines[self.pos][indent:]
            if not (content == "-" or content.startswith("- ")):
                break  # a key of the mapping this sequence is a value of
            rest = content[1:].lstrip(" ")
            column = indent + len(content) - len(rest)
            if not rest or rest.startswith("#"):
                self.pos += 1
                items.append(self._child(indent))
            elif _split_key(rest) is not None and not rest.startswith(("[", "{", '"', "'")):
                # `- key: value` starts a mapping whose keys sit at the item's column.
                self.lines[self.pos] = " " * column + rest
                items.append(self._mapping(column))
            else:
                items.append(self._value(rest, line_no, column + 1, indent))
        if not self._at_end() and self._indent() > indent:
            raise YamlError("did not find expected '-' indicator", self.pos + 1, indent + 1)
        return items

    def _mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while not self._at_end() and self._indent() == indent:
            line_no = self.pos + 1
            content = self.lines[self.pos][indent:]
            if content == "-" or content.startswith("- "):
                raise YamlError("did not find expected key", line_no, indent + 1)
            split = _split_key(content)
            if split is None:
                raise YamlError("could not find expected ':'", line_no, indent + 1)
            key_text, rest = split
            key = self._scalar(key_text, line_no, indent + 1)
            key = key if isinstance(key, str) else json.dumps(key)
            if key in out:
                raise YamlError(f"duplicate entry with key {json.dumps(key)}", line_no, indent + 1)
            rest = rest.strip()
            if not rest or rest.startswith("#"):
                self.pos += 1
                out[key] = self._child(indent, allow_sequence_at_same_indent=True)
            else:
                column = indent + len(content) - len(rest) + 1
                out[key] = self._value(rest, line_no, column, indent)
        if not self._at_end() and self._indent() > indent:
            raise YamlError(
                "mapping values are not allowed in this context", self.pos + 1, self._indent() + 1
            )
        return out

    def _child(self, indent: int, *, allow_sequence_at_same_indent: bool = False) -> Any:
        if self._at_end():
            return None
        child = self._indent()
        if child > indent:
            return self._node(child)
        content = self.lines[self.pos][child:]
        if (
            allow_sequence_at_same_indent
            and child == indent
            and (content == "-" or content.startswith("- "))
        ):
            return self._sequence(child)
        return None

    def _value(self, text: str, line: int, column: int, indent: int) -> Any:
        """A value that starts on this line; block scalars read the following lines."""
        text = _strip_comment(text)
        if text[:1] in ("|", ">") and re.fullmatch(r"[|>][-+]?", text):
            self.pos += 1
            return self._block(text, indent)
        self.pos += 1
        return self._scalar(text, line, column)

    def _block(self, header: str, indent: int) -> str:
        lines: list[str] = []
        block_indent: int | None = None
        while self.pos < len(self.lines):
            raw = self.lines[self.pos]
            if not raw.strip():
                lines.append("")
                self.pos += 1
                continue
            current = len(raw) - len(raw.lstrip(" "))
            if current <= indent:
                break
            if block_indent is None:
                block_indent = current
            if current < block_indent:
                break
            lines.append(raw[block_indent:])
            self.pos += 1
        while lines and not lines[-1]:
            lines.pop()
        text = _fold(lines) if header[0] == ">" else "\n".join(lines)
        chomp = header[1:2]
        if chomp == "-":
            return text
        return text + "\n" if text else text

    def _scalar(self, text: str, line: int, column: int) -> Any:
        text = _strip_comment(text).strip()
        if not text:
            return None
        if text[0] in "[{":
            value, end = _flow(text, 0, line, column)
            if text[end:].strip():
                raise YamlError("did not find expected ',' or ']'", line, column + end)
            return value
        if text[0] in "&*!":
            raise YamlError("anchors, aliases and tags are not supported", line, column)
        return _plain_or_quoted(text, line, column)


def _split_key(content: str) -> tuple[str, str] | None:
    """`key: rest` (the key may be quoted); None when the line is not a mapping entry."""
    if content[:1] in ('"', "'"):
        quote = content[0]
        end = content.find(quote, 1)
        while end > 0 and quote == "'" and content[end + 1 : end + 2] == "'":
            end = content.find(quote, end + 2)
        if end < 0:
            return None
        after = content[end + 1 :]
        if after.startswith(":") and (len(after) == 1 or after[1] in " \t"):
            return content[: end + 1], after[1:]
        return None
    if content[:1] in "[{#":
        return None
    match = re.search(r":(\s|$)", content)
    if match is None:
        return None
    key = content[: match.start()]
    if " #" in key:
        return None
    return key, content[match.end() :] if match.group(1) else ""


def _strip_comment(text: str) -> str:
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in ('"', "'") and (i == 0 or text[i - 1] in " [{,:"):
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text


def _fold(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if out and line and out[-1] and not out[-1].endswith("\n"):
            out[-1] += " " + line
        elif line:
            out.append(line)
        else:
            out.append("\n")
    return "".join(out).replace(" \n", "\n")


def _plain_or_quoted(text: str, line: int, column: int) -> Any:
    if text[0] == '"':
        if len(text) < 2 or not text.endswith('"'):
            raise YamlError("found unexpected end of stream", line, column)
        try:
            return json.loads(text)
        except ValueError:
            raise YamlError("found unknown escape character", line, column) from None
    if text[0] == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise YamlError("found unexpected end of stream", line, column)
        return text[1:-1].replace("''", "'")
    colon = re.search(r":(\s|$)", text)
    if colon is not None:
        raise YamlError(
            "mapping values are not allowed in this context", line, column + colon.start()
        )
    if text in ("~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
        return float(text)
    return text


def _flow(text: str, start: int, line: int, column: int) -> tuple[Any, int]:
    """A flow list or map starting at `text[start]`; returns it and the index after it."""
    opening = text[start]
    closing = "]" if opening == "[" else "}"
    items: list[Any] = []
    mapping: dict[str, Any] = {}
    i = start + 1
    while True:
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text):
            raise YamlError(f"did not find expected ',' or '{closing}'", line, column + i)
        if text[i] == closing:
            return (items if opening == "[" else mapping), i + 1
        if text[i] in "[{":
            value, i = _flow(text, i, line, column)
            token_key = None
        else:
            j = i
            quote = text[i] if text[i] in "\"'" else ""
            if quote:
                j = text.find(quote, i + 1)
                if j < 0:
                    raise YamlError("found unexpected end of stream", line, column + i)
                j += 1
            while (
                j < len(text)
                and text[j] not in ",]}"
                and (opening == "[" or text[j] != ":" or quote)
            ):
                if quote and text[j] == ":":
                    break
                j += 1
            token = text[i:j].strip()
            token_key = token
            value = _plain_or_quoted(token, line, column + i) if token else None
            i = j
        if opening == "{":
            if i < len(text) and text[i] == ":":
                key = value if isinstance(value, str) else json.dumps(value)
                i += 1
                while i < len(text) and text[i] == " ":
                    i += 1
                if i < len(text) and text[i] in "[{":
                    value, i = _flow(text, i, line, column)
                else:
                    j = i
                    while j < len(text) and text[j] not in ",}":
                        j += 1
                    token = text[i:j].strip()
                    value = _plain_or_quoted(token, line, column + i) if token else None
                    i = j
                mapping[key] = value
            elif token_key is not None:
                mapping[str(value)] = None
        else:
            items.append(value)
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == ",":
            i += 1
        elif i >= len(text) or text[i] != closing:
            raise YamlError(f"did not find expected ',' or '{closing}'", line, column + i)


# -- the server's project-config checks -------------------------------------------------------

_METADATA = Struct("ProjectMetadata", deny_unknown=True, id=Str(), description=Opt(Str()))
_TAP = Struct(
    "TapConfig",
    deny_unknown=True,
    timeout_seconds=(Int("u64"), lambda: 30),
    retries=(Int("u32"), lambda: 2),
    fail_open=(Bool(), lambda: False),
)
_ADAPTERS = Struct(
    "AdapterConfig",
    deny_unknown=True,
    required=(ListOf(Str()), list),
    casda_tap_url=Opt(Str()),
    vizier_tap_url=Opt(Str()),
    tap=(_TAP, dict),
)
_GRAPH = Struct(
    "GraphConfig", deny_unknown=True, url=Opt(Str()), path=Opt(Str()), sha256=Opt(Str())
)
_OUTPUTS = Struct(
    "OutputVerificationConfig",
    deny_unknown=True,
    required=(Bool(), lambda: False),
    inventory_schema=(Str(), lambda: WALLABY_OUTPUT_INVENTORY_SCHEMA),
)
_PROJECT = Struct(
    "ProjectConfig",
    deny_unknown=True,
    apiVersion=Str(),
    kind=Str(),
    metadata=_METADATA,
    adapters=(_ADAPTERS, lambda: {"required": [], "tap": {}}),
    graph=Opt(_GRAPH),
    discovery=(AnyT(), dict),
    manifest=Opt(AnyT()),
    graph_patches=(AnyT(), list),
    output_verification=(_OUTPUTS, dict),
    automation=(AnyT(), dict),
    extension=Opt(AnyT()),
    definitions=Opt(AnyT()),
    source_identity=Opt(AnyT()),
)


def _diag(path: str, code: str, message: str, hint: str | None = None) -> Json:
    out: Json = {"path": path, "severity": "error", "code": code, "message": message}
    if hint is not None:
        out["hint"] = hint
    return out


def _report(project_id: str, errors: list[Json], sha: str, warnings: list[Json]) -> Json:
    report: Json = {"project_id": project_id, "valid": not errors, "errors": errors}
    if warnings:
        report["warnings"] = warnings
    report["spec_sha256"] = sha
    return report


def validate_project_config(text: str) -> tuple[Json, Json | None]:
    """The `ValidationReport` for an uploaded YAML text, and the spec when it is valid.

    Example:
        >>> report, spec = validate_project_config("kind: ProjectConfig\\n")
        >>> report["errors"][0]["message"]
        'missing field `apiVersion`'
    """
    raw_sha = sha256_hex(text)
    try:
        value = parse_yaml(text)
    except YamlError as exc:
        diag = _diag(
            f"line {exc.line}, column {exc.column}",
            "invalid_yaml",
            str(exc),
            "correct the YAML syntax and validate the document again",
        )
        return _report("", [diag], raw_sha, []), None
    project_id = ""
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        found = value["metadata"].get("id")
        project_id = found if isinstance(found, str) else ""
    try:
        config = _PROJECT.read(value, "")
    except _DataError as exc:
        diag = _diag(
            exc.path or ".",
            "invalid_config_structure",
            exc.message,
            "remove unknown fields or correct the value to match the v2 schema",
        )
        return _report(project_id, [diag], raw_sha, []), None
    errors = _semantic_errors(config)
    spec = {k: v for k, v in config.items() if v is not None}
    sha = sha256_hex(json.dumps(spec, separators=(",", ":"), ensure_ascii=False))
    return _report(config["metadata"]["id"], errors, sha, []), (spec if not errors else None)


def _semantic_errors(config: Json) -> list[Json]:
    """The subset of `ProjectConfig::validate_report` the fake checks."""
    errors: list[Json] = []
    if config["apiVersion"] != "beampipe.dev/v2":
        hint = None
        if config["apiVersion"] == "beampipe.dev/v1":
            hint = (
                "v1 project configs are legacy; convert the document to the v2 typed shape "
                "before upload"
            )
        errors.append(
            _diag("apiVersion", "legacy_api_version", "apiVersion must be beampipe.dev/v2", hint)
        )
    if config["kind"] != "ProjectConfig":
        errors.append(_diag("kind", "invalid_kind", "kind must be ProjectConfig"))
    if not config["metadata"]["id"].strip():
        errors.append(_diag("metadata.id", "required", "metadata.id is required"))
    adapters = config["adapters"]
    if not adapters["required"]:
        errors.append(
            _diag(
                "adapters.required",
                "required",
                "adapters.required must include at least one adapter",
            )
        )
    for index, adapter in enumerate(adapters["required"]):
        if not adapter.strip():
            errors.append(
                _diag(
                    f"adapters.required[{index}]",
                    "required",
                    "adapter identifiers must be non-empty",
                )
            )
    if adapters["tap"]["timeout_seconds"] == 0:
        errors.append(
            _diag(
                "adapters.tap.timeout_seconds",
                "invalid_limit",
                "adapters.tap.timeout_seconds must be > 0",
            )
        )
    if config["output_verification"]["inventory_schema"] != WALLABY_OUTPUT_INVENTORY_SCHEMA:
        errors.append(
            _diag(
                "output_verification.inventory_schema",
                "unsupported_output_inventory_schema",
                f"output_verification.inventory_schema must be {WALLABY_OUTPUT_INVENTORY_SCHEMA}",
            )
        )
    graph = config.get("graph")
    if graph is not None:
        errors.extend(_graph_errors(graph))
    limit = max_sources_per_execution(config)
    if limit is not None and limit <= 0:
        errors.append(
            _diag(
                "automation.execution.max_sources_per_execution",
                "invalid_limit",
                "automation.execution.max_sources_per_execution must be > 0",
            )
        )
    return errors


def _graph_errors(graph: Json) -> list[Json]:
    errors: list[Json] = []
    if (graph["url"] is not None) + (graph["path"] is not None) != 1:
        errors.append(
            _diag("graph", "mutually_exclusive", "graph must use exactly one of url or path")
        )
    for key in ("url", "path"):
        if graph[key] is not None and not graph[key].strip():
            errors.append(
                _diag(f"graph.{key}", "required", f"graph.{key} must be non-empty when set")
            )
    sha = graph["sha256"]
    if sha is None:
        errors.append(
            _diag("graph.sha256", "required", "graph.sha256 is required to pin graph content")
        )
    elif not re.fullmatch(r"[0-9a-fA-F]{64}", sha):
        errors.append(
            _diag(
                "graph.sha256",
                "invalid_sha256",
                "graph.sha256 must contain exactly 64 hexadecimal characters",
            )
        )
    return errors


def max_sources_per_execution(spec: Json) -> int | None:
    """`automation.execution.max_sources_per_execution` when the config sets it."""
    automation = spec.get("automation")
    execution = automation.get("execution") if isinstance(automation, dict) else None
    value = execution.get("max_sources_per_execution") if isinstance(execution, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
