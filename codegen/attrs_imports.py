"""Custom datamodel-code-generator formatter for the attrs templates.

The dataclass output type makes the generator import ``dataclass`` even though our templates
write ``@attrs.define``; this formatter (run after the built-in one) drops that unused import.
"""

import re

from datamodel_code_generator.format import CustomCodeFormatter


class CodeFormatter(CustomCodeFormatter):
    """Remove the leftover ``from dataclasses import ...`` line."""

    def apply(self, code: str) -> str:
        return re.sub(r"^from dataclasses import [^\n]+\n", "", code, flags=re.M)
