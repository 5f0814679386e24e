"""Custom datamodel-code-generator formatter for the attrs templates.

The dataclass output type makes the generator import ``dataclass`` (and ``StrEnum`` for
string enums) although our templates write ``@attrs.define`` and ``OpenStrEnum``, and
``--additional-imports`` brings every core name whether a module uses it or not. This
formatter (run after the built-in one) drops the imports a module does not use.
"""

import re

from datamodel_code_generator.format import CustomCodeFormatter

_CORE = re.compile(r"^from controldeck\._core\._models import \(\n(.*?)\)\n", re.M | re.S)


def _used(name: str, code: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", code) is not None


class CodeFormatter(CustomCodeFormatter):
    """Remove unused ``dataclasses``, ``enum`` and core-model imports."""

    def apply(self, code: str) -> str:
        code = re.sub(r"^from dataclasses import [^\n]+\n", "", code, flags=re.M)
        body = _CORE.sub("", code)
        if not _used("StrEnum", re.sub(r"^from enum import StrEnum\n", "", body, flags=re.M)):
            code = re.sub(r"^from enum import StrEnum\n", "", code, flags=re.M)
            body = _CORE.sub("", code)
        match = _CORE.search(code)
        if match is None:
            return code
        names = [n.strip() for n in match.group(1).split(",") if n.strip()]
        kept = [n for n in names if _used(n, body)]
        block = "".join(f"    {n},\n" for n in kept)
        replacement = f"from controldeck._core._models import (\n{block})\n" if kept else ""
        return code[: match.start()] + replacement + code[match.end() :]
