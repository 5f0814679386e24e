"""Projects (`client.projects`), and flat script helpers that take a project id.

The script helpers (`list_scripts`, `move_script`, ...) call the same routes as
`client.project(pid).scripts`; they read better in admin code that touches several
projects in a row, as upstream's `projects.*` helpers do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_str
from controldeck.akribes._base import Resource, project_id_of, segment
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._core._pagination import Page
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import Project, Script, ScriptChannel
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["ProjectsClient"]

_NUMERIC = re.compile(r"[0-9]+")


def _ids(name: str, value: Any) -> list[int]:
    """A list of int ids (projects or scripts), for a reorder."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidArgumentError(f"{name} must be a list of ids, got {type(value).__name__}")
    return [project_id_of(item, f"{name}[{i}]") for i, item in enumerate(value)]


class ProjectsClient(Resource):
    """Projects, and script helpers that take the project id as their first argument.

    Example:
        >>> project = client.projects.create("support")
        >>> [p.name for p in client.projects.list()]
        ['support']
    """

    # -- projects ----------------------------------------------------------------------------

    def list(self, **options: Unpack[CallOptions]) -> Page[Project]:
        """Every project the token can see, paged lazily (`GET /projects`).

        Returns:
            The projects; an empty page when the server answers 404.

        Example:
            >>> names = [p.name for p in client.projects.list()]
        """
        return self._list("/projects", models.Project, **options)

    def get(self, project_id: int, **options: Unpack[CallOptions]) -> Project | None:
        """One project, or None when there is no such project.

        Args:
            project_id: The project.

        Returns:
            The project, or None on 404.

        Raises:
            InvalidArgumentError: `project_id` is not an int id.

        Example:
            >>> client.projects.get(7).name
            'support'
        """
        pid = project_id_of(project_id)
        return self._client._get_or_none(f"/projects/{pid}", models.Project, **options)

    def create(
        self,
        name: str,
        *,
        organization_name: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Project:
        """Create a project.

        Args:
            name: The project's name.
            organization_name: Create it in this organization (honoured for wildcard or
                admin identities; an organization-bound token uses its own).

        Returns:
            The new project.

        Raises:
            InvalidArgumentError: An empty name.

        Example:
            >>> client.projects.create("support", organization_name="acme").id
            7
        """
        body = models.CreateProjectRequest(
            name=require_str("name", name),
            organization_name=(
                UNSET
                if organization_name is None
                else require_str("organization_name", organization_name)
            ),
        )
        return self._client._post("/projects", models.Project, json=body, **options)

    def update(self, project_id: int, name: str, **options: Unpack[CallOptions]) -> Project:
        """Rename a project.

        Args:
            project_id: The project.
            name: Its new name.

        Returns:
            The renamed project.

        Raises:
            InvalidArgumentError: A bad id or an empty name.
            NotFoundError: No such project.

        Example:
            >>> client.projects.update(7, "support-v2").name
            'support-v2'
        """
        pid = project_id_of(project_id)
        body = models.UpdateProjectRequest(name=require_str("name", name))
        return self._client._patch(f"/projects/{pid}", models.Project, json=body, **options)

    def delete(self, project_id: int, **options: Unpack[CallOptions]) -> None:
        """Delete a project; a project that does not exist is not an error (as upstream).

        Args:
            project_id: The project.

        Raises:
            InvalidArgumentError: `project_id` is not an int id.

        Example:
            >>> client.projects.delete(7)
        """
        pid = project_id_of(project_id)
        self._client._delete_found(f"/projects/{pid}", **options)

    def duplicate(self, project_id: int, **options: Unpack[CallOptions]) -> Project:
        """Copy a project with all its scripts; the server names the copy.

        Args:
            project_id: The project to copy.

        Returns:
            The copy.

        Raises:
            InvalidArgumentError: `project_id` is not an int id.
            NotFoundError: No such project.

        Example:
            >>> client.projects.duplicate(7).name
            'support (copy)'
        """
        pid = project_id_of(project_id)
        return self._client._post(
            f"/projects/{pid}/duplicate", models.Project, json=models.EmptyBody(), **options
        )

    def reorder(self, order: Sequence[int], **options: Unpack[CallOptions]) -> None:
        """Set the order projects are listed in.

        Args:
            order: Project ids in the wanted order.

        Raises:
            InvalidArgumentError: `order` is not a list of int ids.

        Example:
            >>> client.projects.reorder([9, 7, 8])
        """
        body = models.ReorderRequest(order=_ids("order", order))
        self._client._transport.request(
            "PUT", "/projects/reorder", json=body, reply="none", **options
        )

    def resolve(self, id_or_name: int | str, **options: Unpack[CallOptions]) -> Project | None:
        """A project by id, or by exact name.

        An int, or a string of digits, is looked up as an id (as upstream does: a project
        named "42" must be found in `list()`); any other string is matched against the
        names in `list()`.

        Args:
            id_or_name: The project's id or name.

        Returns:
            The project, or None when none matches.

        Raises:
            InvalidArgumentError: Neither an int id nor a non-empty string.

        Example:
            >>> client.projects.resolve("support").id
            7
        """
        if isinstance(id_or_name, str) and _NUMERIC.fullmatch(id_or_name):
            return self.get(int(id_or_name), **options)
        if not isinstance(id_or_name, str):
            return self.get(id_or_name, **options)
        name = require_str("id_or_name", id_or_name)
        return next((p for p in self.list(**options) if p.name == name), None)

    # -- scripts of a project ----------------------------------------------------------------

    def _script(self, project_id: int, script_name: str) -> str:
        return (
            f"/projects/{project_id_of(project_id)}/scripts/{segment('script_name', script_name)}"
        )

    def list_scripts(self, project_id: int, **options: Unpack[CallOptions]) -> Page[Script]:
        """The scripts of a project, paged lazily.

        Same as `client.project(project_id).scripts.list()`.

        Args:
            project_id: The project.

        Returns:
            The scripts; an empty page when the project does not exist.

        Raises:
            InvalidArgumentError: `project_id` is not an int id.

        Example:
            >>> [s.name for s in client.projects.list_scripts(7)]
            ['triage']
        """
        pid = project_id_of(project_id)
        return self._list(f"/projects/{pid}/scripts", models.Script, **options)

    def move_script(
        self,
        project_id: int,
        script_name: str,
        target_project_id: int,
        **options: Unpack[CallOptions],
    ) -> Script:
        """Move a script to another project.

        Args:
            project_id: The project the script is in.
            script_name: The script.
            target_project_id: The project to move it to.

        Returns:
            The script in its new project.

        Raises:
            InvalidArgumentError: A bad id or an empty name.
            NotFoundError: No such script.

        Example:
            >>> client.projects.move_script(7, "triage", 8).project_id
            8
        """
        path = self._script(project_id, script_name) + "/move"
        body = models.MoveScriptRequest(
            target_project_id=project_id_of(target_project_id, "target_project_id")
        )
        return self._client._post(path, models.Script, json=body, **options)

    def rename_script(
        self,
        project_id: int,
        script_name: str,
        new_name: str,
        **options: Unpack[CallOptions],
    ) -> None:
        """Rename a script.

        Args:
            project_id: The project.
            script_name: The script's current name.
            new_name: Its new name.

        Raises:
            InvalidArgumentError: A bad id or an empty name.
            NotFoundError: No such script.

        Example:
            >>> client.projects.rename_script(7, "triage", "triage-v2")
        """
        path = self._script(project_id, script_name)
        body = models.RenameScriptRequest(new_name=require_str("new_name", new_name))
        self._client._transport.request("PATCH", path, json=body, reply="none", **options)

    def delete_script(
        self, project_id: int, script_name: str, **options: Unpack[CallOptions]
    ) -> None:
        """Delete a script; a script that does not exist is not an error (as upstream).

        Args:
            project_id: The project.
            script_name: The script.

        Raises:
            InvalidArgumentError: A bad id or an empty name.

        Example:
            >>> client.projects.delete_script(7, "triage")
        """
        self._client._delete_found(self._script(project_id, script_name), **options)

    def duplicate_script(
        self, project_id: int, script_name: str, **options: Unpack[CallOptions]
    ) -> Script:
        """Copy a script within its project; the server names the copy.

        Args:
            project_id: The project.
            script_name: The script to copy.

        Returns:
            The copy.

        Raises:
            InvalidArgumentError: A bad id or an empty name.
            NotFoundError: No such script.

        Example:
            >>> client.projects.duplicate_script(7, "triage").name
            'triage-copy'
        """
        path = self._script(project_id, script_name) + "/duplicate"
        return self._client._post(path, models.Script, json=models.EmptyBody(), **options)

    def list_channels(
        self, project_id: int, script_name: str, **options: Unpack[CallOptions]
    ) -> Page[ScriptChannel]:
        """The release channels of a script, paged lazily.

        Same as `client.project(project_id).channels.list(script_name)`.

        Args:
            project_id: The project.
            script_name: The script.

        Returns:
            The channels; an empty page when the script does not exist.

        Raises:
            InvalidArgumentError: A bad id or an empty name.

        Example:
            >>> [c.name for c in client.projects.list_channels(7, "triage")]
            ['production', 'staging']
        """
        path = self._script(project_id, script_name) + "/channels"
        return self._list(path, models.ScriptChannel, **options)

    def reorder_scripts(
        self, project_id: int, order: Sequence[int], **options: Unpack[CallOptions]
    ) -> None:
        """Set the order a project's scripts are listed in.

        Args:
            project_id: The project.
            order: Script ids in the wanted order.

        Raises:
            InvalidArgumentError: A bad project id, or `order` is not a list of int ids.
            NotFoundError: No such project.

        Example:
            >>> client.projects.reorder_scripts(7, [12, 11])
        """
        pid = project_id_of(project_id)
        body = models.ReorderRequest(order=_ids("order", order))
        self._client._transport.request(
            "PUT", f"/projects/{pid}/scripts/reorder", json=body, reply="none", **options
        )
