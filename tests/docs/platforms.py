"""Per platform, what the docs test runs the docs' snippets against.

Adding a platform's docs (docs/<name>.md, or README snippets importing
`controldeck.<name>`) means adding one `DocsPlatform` to `PLATFORMS` below: the fake to
start, the placeholder origin the docs use for the real service, and a prelude that defines
the names the docs leave to the reader (a user's token, "your code").
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controldeck.testing._server import LoopbackServer

__all__ = ["ALL_PLATFORMS", "PLATFORMS", "DocsPlatform"]

# Every platform the SDK has or will have; docs naming one that is not in PLATFORMS fail
# with a pointer to this file rather than trying to reach a real server.
ALL_PLATFORMS = ("runbeam", "akribes", "beampipe", "rune", "runagent")


@dataclass(frozen=True)
class DocsPlatform:
    """How to run one platform's doc snippets locally.

    Attributes:
        name: The module name, `controldeck.<name>`; also the stem of `docs/<name>.md`.
        placeholder: The origin the docs write for the real service; rewritten to the
            running fake's origin before a snippet runs (type checking sees the original).
        fake: `module:Class` of the fake, a `LoopbackServer`.
        fake_args: Keyword arguments the fake is made with (`grpc=True`).
        prelude: Typed Python run before the document's snippets, with the running fake
            bound to `<name>_fake`.
        rewrites: More `(text, replacement)` pairs applied like the placeholder, for
            addresses the docs do not write as one origin (`port=8450`); the replacement
            is formatted with the running fake as `fake`.
    """

    name: str
    placeholder: str
    fake: str
    prelude: str
    rewrites: tuple[tuple[str, str], ...] = ()
    fake_args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fake_var(self) -> str:
        """The name the running fake is bound to in the prelude and snippets."""
        return f"{self.name}_fake"

    def fake_class(self) -> type[LoopbackServer]:
        """The fake's class, imported now."""
        module, _, name = self.fake.partition(":")
        cls: type[LoopbackServer] = getattr(importlib.import_module(module), name)
        return cls

    def declaration(self) -> str:
        """Lines that declare the fake's name and type, for the type checker."""
        module, _, name = self.fake.partition(":")
        return f"from {module} import {name}\n{self.fake_var}: {name}\n"


RUNBEAM = DocsPlatform(
    name="runbeam",
    placeholder="https://runbeam.example",
    fake="controldeck.testing.runbeam:FakeRunbeam",
    prelude='''\
import tomllib

user_jwt = runbeam_fake.mint_user_token()


def apply(toml_config: str) -> None:
    """Stands in for the reader's own code: applying fails when the TOML does not parse."""
    tomllib.loads(toml_config)
''',
)

AKRIBES = DocsPlatform(
    name="akribes",
    placeholder="http://akribes.example",
    fake="controldeck.testing.akribes:FakeAkribes",
    prelude="""\
token = akribes_fake.service_token  # the reader's own service token
""",
)

BEAMPIPE = DocsPlatform(
    name="beampipe",
    placeholder="http://beampipe.example:8080",
    fake="controldeck.testing.beampipe:FakeBeampipe",
    prelude="""\
from pathlib import Path

from controldeck.beampipe import (
    BeampipeClient as _Client,
    DaliugeAlgo as _Algo,
    DaliugeTranslationConfig as _Translation,
    DeploymentProfile as _Profile,
    SlurmRemoteDeployment as _Slurm,
)

password = "admin-password"  # the reader's own password (the fake's seeded admin)
# The reader's project config file.
config_path = Path.home() / "minimal_survey.v2.yaml"
config_path.write_text(
    "apiVersion: beampipe.dev/v2\\nkind: ProjectConfig\\nmetadata:\\n  id: minimal_survey\\n"
    "adapters:\\n  required: [casda]\\n"
)
# The server the reader has: discovery and runs finish on the first poll, and the project
# has a default deployment profile.
beampipe_fake.discovery_polls = 0
beampipe_fake.execution_polls = 0
with _Client(beampipe_fake.url, username="admin", password=password) as _admin:
    _admin.create_deployment_profile(
        _Profile(
            name="setonix",
            project_module="minimal_survey",
            is_default=True,
            translation=_Translation(algo=_Algo.METIS, num_par=1, num_islands=1),
            deployment=_Slurm(
                login_node="setonix.pawsey.org.au",
                account="pawsey0411",
                home_dir="/home/beampipe",
                dlg_root="/scratch/dlg",
                log_dir="/scratch/logs",
            ),
        )
    )
""",
)

RUNE = DocsPlatform(
    name="rune",
    placeholder="http://rune.example:7861",
    fake="controldeck.testing.rune:FakeRune",
    fake_args={"grpc": True},
    rewrites=(("rune.example:7863", "{fake.grpc_target}"),),
    prelude="""\
assert rune_fake.seed_token is not None
rune_token = rune_fake.seed_token  # the reader's own token (the fake's seeded root token)
""",
)

RUNAGENT = DocsPlatform(
    name="runagent",
    placeholder="https://backend.run-agent.ai",
    fake="controldeck.testing.runagent:FakeRunAgent",
    rewrites=(('host="127.0.0.1", port=8450', 'host="127.0.0.1", port={fake.port}'),),
    prelude="""\
import socket as _socket
from pathlib import Path as _Path

# The reader served the agent with `runagent serve`, which recorded it in ~/.runagent.
runagent_fake.register(_Path.home() / ".runagent")
# A port nothing listens on: the reader's agent that has stopped.
with _socket.socket() as _probe:
    _probe.bind(("127.0.0.1", 0))
    closed_port = _probe.getsockname()[1]
""",
)

PLATFORMS = {p.name: p for p in (RUNBEAM, AKRIBES, BEAMPIPE, RUNE, RUNAGENT)}
