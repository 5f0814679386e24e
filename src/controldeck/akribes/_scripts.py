"""Scripts, drafts, published versions and channels of a project.

`client.project(pid).scripts`, `.drafts`, `.versions` and `.channels`: the Rust SDK's
sub-clients of the same names (reference §2, §7), plus the TS-only `reason` on publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_str, require_str_list
from controldeck.akribes._base import ProjectResource, int_id, project_id_of, segment
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._core._models import Unset
    from controldeck._core._pagination import Page
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        CheckResponse,
        Draft,
        DryRunResult,
        LatestVersion,
        PublishRequest,
        PublishResponse,
        PutDraftResponse,
        Script,
        ScriptChannel,
        ScriptVersion,
    )
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["ChannelsClient", "DraftsClient", "ScriptsClient", "VersionsClient"]


def _flag(name: str, value: Any) -> bool | Unset:
    """True, or UNSET for False: upstream leaves these flags out unless set (§2)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a bool, got {type(value).__name__}")
    return True if value else UNSET


def _source(value: Any) -> str:
    # An empty script is still source the server can store or check.
    return require_str("source", value, allow_empty=True)


class ScriptsClient(ProjectResource):
    """The project's scripts (`client.project(pid).scripts`).

    Example:
        >>> scripts = client.project(7).scripts
        >>> scripts.create("triage", 'workflow main { log("hi") }').name
        'triage'
    """

    def list(self, **options: Unpack[CallOptions]) -> Page[Script]:
        """Every script of the project, paged lazily.

        Returns:
            A page of scripts; iterating it walks every following page. Empty when the
            project does not exist (404).

        Example:
            >>> [s.name for s in client.project(7).scripts.list()]
            ['triage', 'summarise']
        """
        return self._list(self._path("scripts"), models.Script, **options)

    def get(self, name: str, **options: Unpack[CallOptions]) -> Script | None:
        """One script by name.

        Args:
            name: The script's name.

        Returns:
            The script, or None when there is no such script (404).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> client.project(7).scripts.get("triage").id
            12
        """
        path = self._path("scripts", segment("name", name))
        return self._client._get_or_none(path, models.Script, **options)

    def create(self, name: str, source: str, **options: Unpack[CallOptions]) -> Script:
        """Create a script (its name goes in the query string, as upstream sends it).

        Args:
            name: The new script's name.
            source: Its Akribes source (saved as the draft).

        Returns:
            The new script.

        Raises:
            InvalidArgumentError: `name` is empty or `source` is not a string.
            ConflictError: A script of that name exists.

        Example:
            >>> client.project(7).scripts.create("triage", "workflow main {}").project_id
            7
        """
        params = {"name": require_str("name", name)}
        body = models.CreateScriptRequest(source=_source(source))
        return self._client._post(
            self._path("scripts"), models.Script, params=params, json=body, **options
        )

    def rename(self, name: str, new_name: str, **options: Unpack[CallOptions]) -> None:
        """Rename a script.

        Args:
            name: The script's current name.
            new_name: Its new name.

        Raises:
            InvalidArgumentError: A name is empty.
            NotFoundError: No such script.

        Example:
            >>> client.project(7).scripts.rename("triage", "triage_v2")
        """
        path = self._path("scripts", segment("name", name))
        body = models.RenameScriptRequest(new_name=require_str("new_name", new_name))
        self._client._no_reply("PATCH", path, json=body, **options)

    def resolve(self, id_or_name: int | str, **options: Unpack[CallOptions]) -> Script | None:
        """Find a script by id or by name.

        An int, or a string of digits, is looked up as an id among the listed scripts, as
        upstream does; a digit string that matches no id is then tried as a name, so a
        script named "2024" stays reachable.

        Args:
            id_or_name: The script's id, or its name.

        Returns:
            The script, or None when nothing matches.

        Raises:
            InvalidArgumentError: `id_or_name` is empty, negative or neither int nor str.

        Example:
            >>> client.project(7).scripts.resolve("12").name
            'triage'
        """
        if isinstance(id_or_name, str):
            require_str("id_or_name", id_or_name)
            by_id = id_or_name.isascii() and id_or_name.isdigit()
            wanted = int(id_or_name) if by_id else None
        else:
            wanted = int_id("id_or_name", id_or_name)
        if wanted is not None:
            for script in self.list(**options):
                if script.id == wanted:
                    return script
            if not isinstance(id_or_name, str):
                return None
        return self.get(str(id_or_name), **options)

    def delete(self, name: str, **options: Unpack[CallOptions]) -> None:
        """Delete a script.

        Args:
            name: The script's name.

        Raises:
            InvalidArgumentError: `name` is empty.
            NotFoundError: No such script.

        Example:
            >>> client.project(7).scripts.delete("triage")
        """
        self._client._delete(self._path("scripts", segment("name", name)), **options)

    def duplicate(self, name: str, **options: Unpack[CallOptions]) -> Script:
        """Copy a script; the server names the copy.

        Args:
            name: The script to copy.

        Returns:
            The copy.

        Raises:
            InvalidArgumentError: `name` is empty.
            NotFoundError: No such script.

        Example:
            >>> client.project(7).scripts.duplicate("triage").name
            'triage (copy)'
        """
        path = self._path("scripts", segment("name", name), "duplicate")
        return self._client._post(path, models.Script, json=models.EmptyBody(), **options)

    def move_to(self, name: str, target_project_id: int, **options: Unpack[CallOptions]) -> Script:
        """Move a script to another project.

        Args:
            name: The script's name.
            target_project_id: The project to move it to.

        Returns:
            The script, now in the target project.

        Raises:
            InvalidArgumentError: `name` is empty or `target_project_id` is not an id.
            NotFoundError: No such script or project.

        Example:
            >>> client.project(7).scripts.move_to("triage", 8).project_id
            8
        """
        path = self._path("scripts", segment("name", name), "move")
        body = models.MoveScriptRequest(
            target_project_id=project_id_of(target_project_id, "target_project_id")
        )
        return self._client._post(path, models.Script, json=body, **options)

    def reorder(self, order: Sequence[int], **options: Unpack[CallOptions]) -> None:
        """Set the order the project's scripts are shown in.

        Args:
            order: Script ids, first to last.

        Raises:
            InvalidArgumentError: `order` is not a sequence of ids.

        Example:
            >>> client.project(7).scripts.reorder([12, 10, 11])
        """
        if isinstance(order, str | bytes) or not isinstance(order, Sequence):
            raise InvalidArgumentError(
                f"order must be a list of script ids, got {type(order).__name__}"
            )
        body = models.ReorderRequest(order=[int_id(f"order[{i}]", v) for i, v in enumerate(order)])
        self._client._no_reply("PUT", self._path("scripts", "reorder"), json=body, **options)

    def check(
        self, name: str, source: str | None = None, **options: Unpack[CallOptions]
    ) -> CheckResponse:
        """Type-check source against a script, or its saved draft.

        Args:
            name: The script's name.
            source: Source to check; None checks the saved draft (sends `{}`).

        Returns:
            Whether it passed (`ok`), its diagnostics and the analyzer's version.

        Raises:
            InvalidArgumentError: `name` is empty or `source` is not a string.
            NotFoundError: No such script.

        Example:
            >>> result = client.project(7).scripts.check("triage", "workflow main {")
            >>> result.ok, result.diagnostics[0].line
            (False, 1)
        """
        path = self._path("scripts", segment("name", name), "check")
        body = models.CheckRequest(source=UNSET if source is None else _source(source))
        return self._client._post(path, models.CheckResponse, json=body, **options)


class DraftsClient(ProjectResource):
    """Script drafts (`client.project(pid).drafts`): the source being edited.

    Example:
        >>> client.project(7).drafts.save("triage", "workflow main {}").diagnostics
        []
    """

    def get(self, name: str, **options: Unpack[CallOptions]) -> Draft | None:
        """A script's draft.

        Args:
            name: The script's name.

        Returns:
            The draft's source and inputs, or None when there is none (404).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> client.project(7).drafts.get("triage").source
            'workflow main {}'
        """
        path = self._path("scripts", segment("name", name), "draft")
        return self._client._get_or_none(path, models.Draft, **options)

    def save(
        self,
        name: str,
        source: str,
        *,
        require_parse: bool = False,
        format: bool = False,
        **options: Unpack[CallOptions],
    ) -> PutDraftResponse:
        """Save a script's draft.

        Args:
            name: The script's name.
            source: The new source.
            require_parse: Reject source that does not parse (sent only when True).
            format: Format the source before saving (sent only when True).

        Returns:
            Registered clients the draft would break, and compiler diagnostics.

        Raises:
            InvalidArgumentError: `name` is empty, `source` is not a string, or a flag is
                not a bool.
            NotFoundError: No such script.

        Example:
            >>> saved = client.project(7).drafts.save("triage", src, require_parse=True)
            >>> [w.client_name for w in saved.schema_warnings]
            ['billing-worker']
        """
        path = self._path("scripts", segment("name", name), "draft")
        body = models.PutDraftRequest(
            source=_source(source),
            require_parse=_flag("require_parse", require_parse),
            format=_flag("format", format),
        )
        return self._client._put(path, models.PutDraftResponse, json=body, **options)


def _publish_request(
    channels: Sequence[str],
    label: str | None,
    published_by: str | None,
    force: bool,
    reason: str | None,
    dry_run: bool,
) -> PublishRequest:
    forced = _flag("force", force)
    if reason is not None and forced is UNSET:
        # TS keeps `reason` only on a forced publish; say so instead of dropping it.
        raise InvalidArgumentError("reason is only sent with force=True")
    return models.PublishRequest(
        channels=require_str_list("channels", channels, allow_empty=True),
        label=UNSET if label is None else require_str("label", label),
        published_by=UNSET if published_by is None else require_str("published_by", published_by),
        force=forced,
        reason=UNSET if reason is None else require_str("reason", reason),
        dry_run=True if dry_run else UNSET,
    )


class VersionsClient(ProjectResource):
    """Published versions of scripts (`client.project(pid).versions`).

    Example:
        >>> client.project(7).versions.publish("triage", ["production"]).version.id
        31
    """

    def list(self, name: str, **options: Unpack[CallOptions]) -> Page[ScriptVersion]:
        """A script's published versions, paged lazily.

        Args:
            name: The script's name.

        Returns:
            A page of versions; empty when there is no such script (404).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> [v.label for v in client.project(7).versions.list("triage")]
            ['v1', None]
        """
        path = self._path("scripts", segment("name", name), "versions")
        return self._list(path, models.ScriptVersion, **options)

    def get(
        self, name: str, version_id: int, **options: Unpack[CallOptions]
    ) -> ScriptVersion | None:
        """One published version.

        Args:
            name: The script's name.
            version_id: The version's id.

        Returns:
            The version with its source, or None when there is none (404).

        Raises:
            InvalidArgumentError: `name` is empty or `version_id` is not an id.

        Example:
            >>> client.project(7).versions.get("triage", 31).published_by
            'alice@acme.com'
        """
        path = self._path(
            "scripts", segment("name", name), "versions", str(int_id("version_id", version_id))
        )
        return self._client._get_or_none(path, models.ScriptVersion, **options)

    def get_latest(self, name: str, **options: Unpack[CallOptions]) -> LatestVersion | None:
        """The latest published version, with its inputs.

        Args:
            name: The script's name.

        Returns:
            The version and its `[name, type]` inputs, or None when nothing is published.

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> client.project(7).versions.get_latest("triage").inputs
            [('ticket', 'string')]
        """
        path = self._path("scripts", segment("name", name), "latest")
        return self._client._get_or_none(path, models.LatestVersion, **options)

    def publish(
        self,
        name: str,
        channels: Sequence[str],
        *,
        label: str | None = None,
        published_by: str | None = None,
        force: bool = False,
        reason: str | None = None,
        **options: Unpack[CallOptions],
    ) -> PublishResponse:
        """Publish the script's draft as a new version and point channels at it.

        Args:
            name: The script's name.
            channels: Channels to move to the new version (may be empty).
            label: The version's label.
            published_by: Who published it.
            force: Publish even if registered clients' contracts break (sent only when
                True).
            reason: Why a breaking publish is forced; only with `force=True`. The server
                wants at least 20 characters.

        Returns:
            The new version and the locks or pins rebased onto it (`rebased`).

        Raises:
            InvalidArgumentError: A bad argument, or `reason` without `force=True`.
            NotFoundError: No such script.
            ConflictError: Registered clients would break and `force` was not set.

        Example:
            >>> out = client.project(7).versions.publish("triage", ["production"], label="v2")
            >>> out.version.label, out.rebased
            ('v2', None)
        """
        path = self._path("scripts", segment("name", name), "publish")
        body = _publish_request(channels, label, published_by, force, reason, dry_run=False)
        return self._client._post(path, models.PublishResponse, json=body, **options)

    def publish_dry_run(
        self,
        name: str,
        channels: Sequence[str],
        *,
        label: str | None = None,
        published_by: str | None = None,
        force: bool = False,
        reason: str | None = None,
        **options: Unpack[CallOptions],
    ) -> DryRunResult:
        """Report what publishing would break, without publishing (`dry_run: true`).

        Args:
            name: The script's name.
            channels: The channels the publish would move.
            label: As for `publish`.
            published_by: As for `publish`.
            force: As for `publish`.
            reason: As for `publish`; only with `force=True`.

        Returns:
            How many registered interests would break, and which.

        Raises:
            InvalidArgumentError: A bad argument, or `reason` without `force=True`.
            NotFoundError: No such script.

        Example:
            >>> client.project(7).versions.publish_dry_run("triage", ["production"]).would_break
            0
        """
        path = self._path("scripts", segment("name", name), "publish")
        body = _publish_request(channels, label, published_by, force, reason, dry_run=True)
        return self._client._post(path, models.DryRunResult, json=body, **options)


class ChannelsClient(ProjectResource):
    """Release channels of scripts (`client.project(pid).channels`).

    Example:
        >>> client.project(7).channels.move_to("triage", "production", 31)
    """

    def list(self, name: str, **options: Unpack[CallOptions]) -> Page[ScriptChannel]:
        """A script's channels, paged lazily.

        Args:
            name: The script's name.

        Returns:
            A page of channels; empty when there is no such script (404).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> {c.name: c.version_id for c in client.project(7).channels.list("triage")}
            {'production': 31, 'staging': 32}
        """
        path = self._path("scripts", segment("name", name), "channels")
        return self._list(path, models.ScriptChannel, **options)

    def create(self, name: str, channel: str, **options: Unpack[CallOptions]) -> ScriptChannel:
        """Create a channel of a script.

        Args:
            name: The script's name.
            channel: The new channel's name.

        Returns:
            The channel (pointing at no version yet).

        Raises:
            InvalidArgumentError: A name is empty.
            NotFoundError: No such script.

        Example:
            >>> client.project(7).channels.create("triage", "canary").version_id is None
            True
        """
        path = self._path("scripts", segment("name", name), "channels")
        body = models.CreateChannelRequest(name=require_str("channel", channel))
        return self._client._post(path, models.ScriptChannel, json=body, **options)

    def delete(self, name: str, channel: str, **options: Unpack[CallOptions]) -> None:
        """Delete a channel of a script.

        Args:
            name: The script's name.
            channel: The channel's name.

        Raises:
            InvalidArgumentError: A name is empty.
            NotFoundError: No such script or channel.

        Example:
            >>> client.project(7).channels.delete("triage", "canary")
        """
        path = self._path("scripts", segment("name", name), "channels", segment("channel", channel))
        self._client._delete(path, **options)

    def move_to(
        self,
        name: str,
        channel: str,
        version_id: int,
        *,
        force: bool = False,
        **options: Unpack[CallOptions],
    ) -> None:
        """Point a channel at a published version.

        Args:
            name: The script's name.
            channel: The channel's name.
            version_id: The version it should serve.
            force: Move even if registered clients' contracts break (sent only when True).

        Raises:
            InvalidArgumentError: A name is empty, `version_id` is not an id or `force`
                is not a bool.
            NotFoundError: No such script, channel or version.
            ConflictError: Registered clients would break and `force` was not set.

        Example:
            >>> client.project(7).channels.move_to("triage", "production", 30, force=True)
        """
        path = self._path("scripts", segment("name", name), "channels", segment("channel", channel))
        body = models.MoveChannelRequest(
            version_id=int_id("version_id", version_id), force=_flag("force", force)
        )
        self._client._no_reply("PATCH", path, json=body, **options)
