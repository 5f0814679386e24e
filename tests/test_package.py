"""The package's public surface: exports, cheap imports, typing marker."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import controldeck
import controldeck.errors


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


def test_import_controldeck_loads_no_platform_and_no_http_stack() -> None:
    loaded = _modules_after("import controldeck")
    assert not {m for m in loaded if m.startswith("controldeck.")} - {"controldeck.errors"}
    assert "requests" not in loaded


def test_import_runbeam_leaves_optional_extras_unloaded() -> None:
    loaded = _modules_after("import controldeck.runbeam")
    assert {"jwt", "cryptography", "pyrage"}.isdisjoint(loaded)
    assert "controldeck.testing" not in loaded


def test_import_runbeam_defers_models_cattrs_and_jwt_until_used() -> None:
    # Import time: the generated models, cattrs and the JWT module cost more than requests.
    deferred = {"controldeck._generated.runbeam", "cattrs", "controldeck.runbeam._jwt"}
    assert deferred.isdisjoint(_modules_after("import controldeck.runbeam"))
    used = _modules_after(
        "import controldeck.runbeam as r; r.Change; r.validate_jwt_token; "
        "r.RunbeamClient('http://127.0.0.1:9/api', token='t1234')._transport.converter"
    )
    assert deferred <= used


def test_import_akribes_defers_models_and_cattrs_until_used() -> None:
    deferred = {"controldeck._generated.akribes", "cattrs", "controldeck.testing"}
    assert deferred.isdisjoint(_modules_after("import controldeck.akribes"))
    used = _modules_after("import controldeck.akribes as a; a.Project; a.TokenScopes")
    assert "controldeck._generated.akribes" in used


def test_import_beampipe_defers_models_and_cattrs_until_used() -> None:
    deferred = {"controldeck._generated.beampipe", "cattrs", "controldeck.testing"}
    assert deferred.isdisjoint(_modules_after("import controldeck.beampipe"))
    used = _modules_after("import controldeck.beampipe as b; b.ExecutionRead")
    assert "controldeck._generated.beampipe" in used


def test_import_rune_defers_models_and_cattrs_until_used() -> None:
    deferred = {"controldeck._generated.rune", "cattrs", "controldeck.testing"}
    assert deferred.isdisjoint(_modules_after("import controldeck.rune"))
    used = _modules_after("import controldeck.rune as r; r.Service")
    assert "controldeck._generated.rune" in used


def test_import_runagent_defers_models_cattrs_websocket_and_sqlite_until_used() -> None:
    deferred = {
        "controldeck._generated.runagent",
        "controldeck._core._websocket",
        "cattrs",
        "websocket",
        "sqlite3",
        "controldeck.testing",
    }
    assert deferred.isdisjoint(_modules_after("import controldeck.runagent"))
    # The registry is read (sqlite3 loaded) only when a lookup runs: here a missing file.
    used = _modules_after(
        "import controldeck.runagent as r; r.AgentArchitecture; "
        "exec('try: r.lookup_local_agent(\\'a\\', \\'/nonexistent/r.db\\')\\n"
        "except r.AgentNotFoundError: pass')"
    )
    assert {"controldeck._generated.runagent", "sqlite3"} <= used
    assert "websocket" not in used


def test_lazy_names_are_the_real_objects() -> None:
    import controldeck.runbeam as runbeam
    from controldeck._generated import runbeam as generated
    from controldeck.runbeam import _jwt

    assert {"Change", "validate_jwt_token", "RunbeamClient"} <= set(dir(runbeam))
    assert runbeam.Change is generated.Change
    assert runbeam.validate_jwt_token is _jwt.validate_jwt_token
    with pytest.raises(
        AttributeError, match=r"module 'controldeck\.runbeam' has no attribute 'Nope'"
    ):
        _ = runbeam.Nope  # type: ignore[attr-defined]


def test_platform_is_reachable_lazily_from_the_top_package() -> None:
    assert controldeck.runbeam.RunbeamClient.__name__ == "RunbeamClient"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = controldeck.nope  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "module",
    [
        "controldeck",
        "controldeck.errors",
        "controldeck.runbeam",
        "controldeck.akribes",
        "controldeck.beampipe",
        "controldeck.rune",
        "controldeck.runagent",
    ],
)
def test_all_is_sorted_and_complete(module: str) -> None:
    mod = importlib.import_module(module)
    names = list(mod.__all__)
    for name in names:
        assert hasattr(mod, name), f"{module}.{name} is in __all__ but missing"
    public = {n for n in vars(mod) if not n.startswith("_")}
    exported_classes = {
        n
        for n in public
        if isinstance(getattr(mod, n), type)
        and getattr(mod, n).__module__.startswith("controldeck")
    }
    assert exported_classes <= set(names), exported_classes - set(names)
    assert names == sorted(names, key=lambda n: (n[0].islower(), n))


def test_every_error_is_exported_from_the_top_package() -> None:
    for name in controldeck.errors.__all__:
        assert getattr(controldeck, name) is getattr(controldeck.errors, name)


def test_py_typed_is_shipped() -> None:
    assert (Path(controldeck.__file__).parent / "py.typed").is_file()


def test_version_matches_the_user_agent() -> None:
    from controldeck._core._transport import default_user_agent

    major, minor = sys.version_info[:2]
    expected = f"controldeck/{controldeck.__version__} python/{major}.{minor} runbeam"
    assert default_user_agent("runbeam") == expected
