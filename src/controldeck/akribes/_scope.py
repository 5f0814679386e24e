"""`ProjectScope`: everything about one project (`client.project(pid)`)."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Unpack

from controldeck._core._options import CallOptions
from controldeck.akribes._base import project_id_of
from controldeck.akribes._bench import BenchClient
from controldeck.akribes._clients import RegisteredClientsClient
from controldeck.akribes._documents import DocumentsClient
from controldeck.akribes._events import EventsClient
from controldeck.akribes._executions import ScopedExecutionsClient
from controldeck.akribes._mcp import McpClient
from controldeck.akribes._scripts import ChannelsClient, DraftsClient, ScriptsClient, VersionsClient

if TYPE_CHECKING:
    from controldeck._generated.akribes import ConvertResult
    from controldeck.akribes._client import AkribesClient

__all__ = ["ProjectScope"]


class ProjectScope:
    """The sub-clients of one project.

    Attributes:
        project_id: The project.
        executions: Runs of the project's scripts (`run`, `run_stream`, `list`...).
        scripts: The project's scripts.
        drafts: Script drafts.
        versions: Published versions (`publish`, `publish_dry_run`...).
        channels: Release channels.
        bench: Benches (evaluation suites) of the project's scripts.
        registered_clients: Registered clients, their heartbeat, and contract locks.
        mcp: MCP servers and configs.
        documents: Documents (`ingest`, `claim`, `upload`, `progress`...).
        events: The project's event stream.

    Example:
        >>> scope = client.project(7)
        >>> scope.executions.run("triage").execution_id
    """

    def __init__(self, client: AkribesClient, project_id: int) -> None:
        self.project_id = project_id_of(project_id)
        self.client = client
        self.executions = ScopedExecutionsClient(client, project_id)
        self.scripts = ScriptsClient(client, project_id)
        self.drafts = DraftsClient(client, project_id)
        self.versions = VersionsClient(client, project_id)
        self.channels = ChannelsClient(client, project_id)
        self.bench = BenchClient(client, project_id)
        self.registered_clients = RegisteredClientsClient(client, project_id)
        self.mcp = McpClient(client, project_id)
        self.documents = DocumentsClient(client, project_id)
        self.events = EventsClient(client, project_id)

    def convert_file(
        self,
        file: str | os.PathLike[str] | bytes | IO[bytes],
        *,
        filename: str | None = None,
        **options: Unpack[CallOptions],
    ) -> ConvertResult:
        """Convert a document to markdown within this project (cached by content).

        Same as `client.convert.convert_file_for_project(project_id, file, filename=...)`.

        Example:
            >>> client.project(7).convert_file("report.pdf").markdown[:20]
        """
        return self.client.convert.convert_file_for_project(
            self.project_id, file, filename=filename, **options
        )

    def __repr__(self) -> str:
        return f"<ProjectScope {self.project_id} of {self.client!r}>"
