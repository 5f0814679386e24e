"""Deferred imports, so that `import controldeck.<platform>` stays cheap.

A platform's generated models (dozens of attrs classes), cattrs and optional extras cost
more to import than `requests` itself; they are loaded when first used instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

__all__ = ["LazyModule", "lazy_exports"]


class LazyModule:
    """Stands for a module until an attribute is first read, then imports it.

    Import is thread-safe (the import system locks per module), so concurrent first uses
    from several threads get the same module.

    Example:
        >>> models = LazyModule("controldeck._generated.runbeam")
        >>> models.Change   # the module is imported here
        <class 'controldeck._generated.runbeam.Change'>
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_exports(
    package: str, namespace: dict[str, Any], table: Mapping[str, Iterable[str]]
) -> Callable[[str], Any]:
    """A module `__getattr__` that imports re-exported names from their modules on first use.

    Args:
        package: The re-exporting module's name, for the AttributeError message.
        namespace: Its `globals()`: a name, once loaded, is stored there and never looked
            up again.
        table: Module name -> the names it provides.

    Example:
        >>> __getattr__ = lazy_exports(__name__, globals(), {"pkg._models": ["Change"]})
    """
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
