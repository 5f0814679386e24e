"""Beampipe sources, discovery and deployment profiles (reference §5.2, §5.3).

Choices made from the server source (beampipe-core-v2 `crates/beampipe-api/src/lib.rs`,
`crates/beampipe-db/src/repo.rs`, `crates/beampipe-domain/src/readiness.rs`):

- `create_source` / `bulk_create_sources` always send `enabled`: the server's default is
  `false` and its upsert overwrites `enabled`, so leaving it out would disable a source that
  is already registered.
- `bulk_create_sources` has two typed forms: many identifiers of one module (what a bulk
  registration nearly always is), or `items=` of `SourceCreate` models for mixed modules or
  per-item `enabled`. No tuples or dicts: a model is checked field by field when it is built.
- `discover_sources` sends one identifier as `source_identifier` and a list as
  `source_identifiers` (the handler turns both into the same list); an empty list is refused,
  because the server reads `[]` as "every enabled source of the module".
- `update_source` tells an absent `stale_after_hours` (unchanged) from `None` (sent as
  `null`: cleared).
- `wait_for_source_ready` returns once discovery has settled; see its docstring.
- `list_deployment_profiles(project_module)` filters on the client: the handler takes no
  query parameters (the seed's `?project_module=` is ignored by the server).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Unpack, overload

import attrs

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET, Unset
from controldeck._core._options import CallOptions, PollOptions, poll_call_options
from controldeck._core._pagination import Page
from controldeck._core._validate import require_bool, require_str, require_str_list
from controldeck._core._wait import wait_for
from controldeck.beampipe._base import API, BeampipeBase, uuid_id
from controldeck.errors import InvalidArgumentError, WaitTimeoutError

if TYPE_CHECKING:
    from controldeck._generated import beampipe as models
    from controldeck._generated.beampipe import (
        DeploymentProfile,
        DeploymentProfileResponse,
        DiscoverTriggerResponse,
        ExecutionRow,
        ProvenanceEventResponse,
        SourceBulkCreateResponse,
        SourceCreate,
        SourceExecutionStatus,
        SourceMetadataResponse,
        SourceRegistryRow,
    )
else:
    models = LazyModule("controldeck._generated.beampipe")

__all__ = ["SourcesAPI"]

# `stale_after_hours` is an i32 column; the project config's own value must be > 0
# (beampipe-project validate, "must be > 0"), so the same range is asked of a source's.
_MAX_I32 = 2**31 - 1
# What the server writes in place of a value whose key looks secret (beampipe-security
# `REDACTED`); `ssh_credential` of a profile read back from the server is one.
_REDACTED = "[REDACTED]"
# Blockers quoted in a timeout message are cut to this many characters in all.
_BLOCKER_CHARS = 1000


def _optional_module(value: Any) -> str | None:
    return None if value is None else require_str("project_module", value)


def _source_create(item: Any, index: int, enabled: bool) -> SourceCreate:
    """A `SourceCreate` from `items=`, checked, with `enabled` filled in when it is unset."""
    if not isinstance(item, models.SourceCreate):
        raise InvalidArgumentError(
            f"items[{index}] must be a SourceCreate, got {type(item).__name__}"
        )
    require_str(f"items[{index}].project_module", item.project_module)
    require_str(f"items[{index}].source_identifier", item.source_identifier)
    if item.enabled is UNSET:
        # Never left out: the server's default would disable an existing source.
        return attrs.evolve(item, enabled=enabled)
    require_bool(f"items[{index}].enabled", item.enabled)
    return item


def _check_profile(profile: Any) -> DeploymentProfile:
    """The profile to send: a `DeploymentProfile` holding no server-masked value."""
    if not isinstance(profile, models.DeploymentProfile):
        raise InvalidArgumentError(
            f"profile must be a DeploymentProfile, got {type(profile).__name__}"
        )
    masked = _masked_paths(profile.to_dict(reveal_secrets=True), "profile")
    if masked:
        raise InvalidArgumentError(
            f"{masked[0]} is {_REDACTED!r}: the server masks such values when it sends a "
            "profile back, and would store the mask itself. Set the real value (e.g. the "
            "SSH credential slot name) before sending the profile."
        )
    return profile


def _masked_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _masked_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _masked_paths(item, f"{path}[{i}]")]
    return [path] if value == _REDACTED else []


def _source_settled(status: SourceExecutionStatus) -> bool:
    # Ready implies discovery complete (readiness.rs: every check behind
    # `discovery_complete` is also a blocker); once discovery is complete, what still blocks
    # (a disabled source, no metadata, failed discovery flags, a signature already executed)
    # does not change by waiting.
    return status.ready_for_execution or status.discovery_complete


def _describe_source(status: SourceExecutionStatus) -> str:
    if status.ready_for_execution:
        return "ready for execution"
    if not status.discovery_complete:
        return "discovery not complete"
    blockers = "; ".join(status.blockers) or "no blockers reported"
    return f"discovery complete, not ready: {blockers}"


def _timeout_with_blockers(exc: WaitTimeoutError) -> WaitTimeoutError:
    """The core's timeout error, with the last status's blockers quoted in full."""
    status = exc.last_state
    blockers = getattr(status, "blockers", None)
    if not blockers:
        return exc
    text = "; ".join(str(b) for b in blockers)
    if len(text) > _BLOCKER_CHARS:
        text = text[: _BLOCKER_CHARS - 1] + "…"
    return WaitTimeoutError(f"{exc} Blockers: {text}", last_state=status)


class SourcesAPI(BeampipeBase):
    """Beampipe sources, discovery and deployment profiles."""

    # -- sources ----------------------------------------------------------------------------

    def create_source(
        self,
        project_module: str,
        source_identifier: str,
        *,
        enabled: bool = True,
        **options: Unpack[CallOptions],
    ) -> SourceRegistryRow:
        """Register a source, or update it if it exists (`POST /api/v2/sources`).

        The server upserts on (`project_module`, `source_identifier`): registering again
        returns the same `uuid` and overwrites `enabled`. `enabled` is therefore always
        sent: the server's default for a missing `enabled` is `false`, which would disable
        a source that is already registered. The project module is not checked here (an
        unknown one fails later, at discovery or execution admission).

        Args:
            project_module: The project id, e.g. `"wallaby_hires"`.
            source_identifier: The source, e.g. `"HIPASSJ1318-21"`.
            enabled: Whether discovery and executions may use it.

        Returns:
            The source's registry row (always 200, also for a new source).

        Raises:
            InvalidArgumentError: An empty module or identifier, or a non-bool `enabled`.

        Example:
            >>> source = client.create_source("wallaby_hires", "HIPASSJ1318-21")
            >>> source.enabled, source.uuid
            (True, '0192f0c4-9a3b-7c1d-8e2f-0123456789ab')
        """
        body = models.SourceCreate(
            project_module=require_str("project_module", project_module),
            source_identifier=require_str("source_identifier", source_identifier),
            enabled=require_bool("enabled", enabled),
        )
        return self._post(f"{API}/sources", models.SourceRegistryRow, json=body, **options)

    @overload
    def bulk_create_sources(
        self,
        project_module: str,
        source_identifiers: Iterable[str],
        *,
        enabled: bool = True,
        **options: Unpack[CallOptions],
    ) -> SourceBulkCreateResponse: ...

    @overload
    def bulk_create_sources(
        self,
        *,
        items: Iterable[SourceCreate],
        enabled: bool = True,
        **options: Unpack[CallOptions],
    ) -> SourceBulkCreateResponse: ...

    def bulk_create_sources(
        self,
        project_module: str | None = None,
        source_identifiers: Iterable[str] | None = None,
        *,
        items: Iterable[SourceCreate] | None = None,
        enabled: bool = True,
        **options: Unpack[CallOptions],
    ) -> SourceBulkCreateResponse:
        """Register (upsert) many sources in one request (`POST /api/v2/sources/bulk`).

        Give either a module and its source identifiers, or `items=` of `SourceCreate`
        models (sources of several modules, or a different `enabled` per source). Each item
        is upserted like `create_source`; `enabled` is always sent, and `enabled=` applies
        to every item that does not set its own.

        Args:
            project_module: The module of every source in `source_identifiers`.
            source_identifiers: The sources to register.
            items: Instead of the two above: the sources as `SourceCreate` models.
            enabled: Whether the sources may be used (items that set `enabled` keep theirs).

        Returns:
            The rows in request order, and their count (`total`).

        Raises:
            InvalidArgumentError: Both forms or neither, an empty module or identifier, or
                an item that is not a `SourceCreate`; nothing is sent.

        Example:
            >>> reply = client.bulk_create_sources(
            ...     "wallaby_hires", ["HIPASSJ1318-21", "HIPASSJ1320-22"]
            ... )
            >>> reply.total
            2
            >>> from controldeck.beampipe import SourceCreate
            >>> reply = client.bulk_create_sources(items=[
            ...     SourceCreate(project_module="wallaby_hires", source_identifier="A"),
            ...     SourceCreate(project_module="other", source_identifier="B", enabled=False),
            ... ])
        """
        require_bool("enabled", enabled)
        if items is not None:
            if project_module is not None or source_identifiers is not None:
                raise InvalidArgumentError(
                    "give either project_module and source_identifiers, or items=, not both"
                )
            if isinstance(items, str | bytes) or not isinstance(items, Iterable):
                raise InvalidArgumentError(
                    f"items must be a list of SourceCreate, got {type(items).__name__}"
                )
            rows = [_source_create(item, i, enabled) for i, item in enumerate(items)]
        else:
            if project_module is None or source_identifiers is None:
                raise InvalidArgumentError(
                    "give project_module and source_identifiers, or items= (SourceCreate models)"
                )
            module = require_str("project_module", project_module)
            identifiers = require_str_list(
                "source_identifiers", source_identifiers, allow_empty=True
            )
            rows = [
                models.SourceCreate(project_module=module, source_identifier=s, enabled=enabled)
                for s in identifiers
            ]
        return self._post(
            f"{API}/sources/bulk",
            models.SourceBulkCreateResponse,
            json=models.SourceBulkCreate(items=rows),
            **options,
        )

    def list_sources(
        self,
        project_module: str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        **options: Unpack[CallOptions],
    ) -> Page[SourceRegistryRow]:
        """List registered sources, newest first (`GET /api/v2/sources`).

        The server pages with `limit`/`offset` and sends no total. Iterating the returned
        page walks the following pages lazily; each request asks for one row more than a
        page holds, so the end is known without a request that comes back empty.

        Args:
            project_module: Only the sources of this module; None lists every module's.
            limit: Sources per page, 1 to 499 (one more is asked for, to see the end).
            offset: Sources to skip before the first page.

        Returns:
            The first page; iterate it for every source from `offset` on.

        Raises:
            InvalidArgumentError: An empty module, or `limit`/`offset` out of range.

        Example:
            >>> for source in client.list_sources("wallaby_hires"):
            ...     print(source.source_identifier, source.enabled)
        """
        return self._offset_page(
            f"{API}/sources",
            models.SourceRegistryRow,
            limit=limit,
            offset=offset,
            params={"project_module": _optional_module(project_module)},
            **options,
        )

    def get_source(self, source_id: str, **options: Unpack[CallOptions]) -> SourceRegistryRow:
        """One registered source (`GET /api/v2/sources/{id}`).

        Args:
            source_id: The source's UUID (the `uuid` of its registry row).

        Returns:
            The registry row.

        Raises:
            InvalidArgumentError: `source_id` is not a UUID; nothing is sent.
            NotFoundError: No such source.

        Example:
            >>> client.get_source("0192f0c4-9a3b-7c1d-8e2f-0123456789ab").source_identifier
            'HIPASSJ1318-21'
        """
        sid = uuid_id("source_id", source_id)
        return self._get(f"{API}/sources/{sid}", models.SourceRegistryRow, **options)

    def update_source(
        self,
        source_id: str,
        *,
        enabled: bool | Unset = UNSET,
        stale_after_hours: int | Unset | None = UNSET,
        **options: Unpack[CallOptions],
    ) -> SourceRegistryRow:
        """Change a source's flags (`PATCH /api/v2/sources/{id}`).

        Only what is given is sent; the rest stays as it is. `stale_after_hours=None` is
        sent as `null` and clears the value; leaving the argument out keeps it.

        Args:
            source_id: The source's UUID.
            enabled: Enable or disable the source.
            stale_after_hours: Hours after which its discovery counts as stale (at least 1),
                or None to clear it.

        Returns:
            The updated registry row.

        Raises:
            InvalidArgumentError: A bad id, neither field given, `enabled` not a bool, or
                `stale_after_hours` not an int from 1 to 2**31-1 or None; nothing is sent.
            NotFoundError: No such source.

        Example:
            >>> client.update_source(source.uuid, enabled=False).enabled
            False
            >>> client.update_source(source.uuid, stale_after_hours=None).stale_after_hours
        """
        sid = uuid_id("source_id", source_id)
        if enabled is UNSET and stale_after_hours is UNSET:
            raise InvalidArgumentError("give enabled= or stale_after_hours= (or both)")
        if enabled is not UNSET:
            require_bool("enabled", enabled)
        if (
            stale_after_hours is not UNSET
            and stale_after_hours is not None
            and (
                isinstance(stale_after_hours, bool)
                or not isinstance(stale_after_hours, int)
                or not 1 <= stale_after_hours <= _MAX_I32
            )
        ):
            raise InvalidArgumentError(
                "stale_after_hours must be an int from 1 to 2147483647, or None to clear it;"
                f" got {stale_after_hours!r:.40}"
            )
        body = models.SourceUpdate(enabled=enabled, stale_after_hours=stale_after_hours)
        return self._patch(f"{API}/sources/{sid}", models.SourceRegistryRow, json=body, **options)

    def delete_source(self, source_id: str, **options: Unpack[CallOptions]) -> None:
        """Remove a source from the registry (`DELETE /api/v2/sources/{id}`).

        Args:
            source_id: The source's UUID.

        Raises:
            InvalidArgumentError: `source_id` is not a UUID; nothing is sent.
            NotFoundError: No such source (also when it was already deleted).

        Example:
            >>> client.delete_source("0192f0c4-9a3b-7c1d-8e2f-0123456789ab")
        """
        sid = uuid_id("source_id", source_id)
        self._delete(f"{API}/sources/{sid}", **options)

    def discover_sources(
        self,
        project_module: str,
        source_identifiers: str | Iterable[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> DiscoverTriggerResponse:
        """Mark sources for archive discovery (`POST /api/v2/sources/discover`).

        Discovery itself runs later, in the server's background scheduler: poll
        `get_source_status` or call `wait_for_source_ready`. Only enabled sources are
        marked; the reply lists the ones that were.

        Args:
            project_module: The module.
            source_identifiers: One source identifier (sent as `source_identifier`), a list
                of them (sent as `source_identifiers`), or None for every enabled source of
                the module. An empty list is refused: the server would read it as "all".

        Returns:
            The module, the identifiers marked and their count.

        Raises:
            InvalidArgumentError: An empty module, identifier or list; nothing is sent.

        Example:
            >>> client.discover_sources("wallaby_hires", "HIPASSJ1318-21").marked_count
            1
        """
        module = require_str("project_module", project_module)
        if source_identifiers is None:
            body = models.DiscoverTriggerRequest(project_module=module)
        elif isinstance(source_identifiers, str):
            body = models.DiscoverTriggerRequest(
                project_module=module,
                source_identifier=require_str("source_identifiers", source_identifiers),
            )
        else:
            body = models.DiscoverTriggerRequest(
                project_module=module,
                source_identifiers=require_str_list("source_identifiers", source_identifiers),
            )
        return self._post(
            f"{API}/sources/discover", models.DiscoverTriggerResponse, json=body, **options
        )

    def get_source_status(
        self, source_id: str, **options: Unpack[CallOptions]
    ) -> SourceExecutionStatus:
        """A source's discovery state and readiness (`GET /api/v2/sources/{id}/status`).

        `ready_for_execution` is true exactly when `blockers` is empty, and that needs a
        completed discovery (`discovery_complete`: checked, with a signature, no discovery
        in progress), at least one discovered metadata row whose discovery flags all pass,
        an enabled source, and a signature not already executed.

        Args:
            source_id: The source's UUID.

        Returns:
            The status with its blockers (human-readable reasons).

        Raises:
            InvalidArgumentError: `source_id` is not a UUID; nothing is sent.
            NotFoundError: No such source.

        Example:
            >>> status = client.get_source_status(source.uuid)
            >>> status.ready_for_execution, status.blockers
            (True, [])
        """
        sid = uuid_id("source_id", source_id)
        return self._get(f"{API}/sources/{sid}/status", models.SourceExecutionStatus, **options)

    def wait_for_source_ready(
        self,
        source_id: str,
        *,
        timeout: float | None = 600.0,
        poll_interval: float = 2.0,
        progress: bool | None = None,
        **options: Unpack[PollOptions],
    ) -> SourceExecutionStatus:
        """Poll `get_source_status` until the source's discovery has settled.

        It returns as soon as `ready_for_execution` is true, or as soon as discovery is
        complete (`discovery_complete`) even though blockers remain: the server marks a
        source ready exactly when it has no blockers, and once discovery is complete the
        ones left (a disabled source, no metadata found, discovery flags that did not pass,
        a signature that was already executed, e.g. by the server's automatic admission)
        do not clear by waiting. Check `.ready_for_execution` and `.blockers` of the
        result. Call `discover_sources` first: it resets the source's discovery state, so
        an earlier completed discovery does not end the wait at once.

        A discovery that fails leaves the source incomplete (the scheduler tries again), so
        that case ends in `WaitTimeoutError`. A progress bar shows the state when run
        interactively.

        Args:
            source_id: The source's UUID.
            timeout: Seconds to wait in all; None waits without a limit.
            poll_interval: Seconds between polls.
            progress: True/False forces the progress bar on/off; None shows it only on an
                interactive terminal or in Jupyter.
            **options: `request_timeout=`, `max_retries=`, `extra_headers=` for each status
                request (`timeout=` here is the whole wait's).

        Returns:
            The last status fetched: ready, or discovery complete with its blockers.

        Raises:
            InvalidArgumentError: A bad id, timeout or interval; nothing is sent.
            WaitTimeoutError: Discovery did not complete in time; `.last_state` is the last
                status and the message quotes its blockers.
            NotFoundError: No such source (not retried: a deleted source never gets ready).

        Example:
            >>> client.discover_sources("wallaby_hires", "HIPASSJ1318-21")
            >>> status = client.wait_for_source_ready(source.uuid, timeout=600)
            >>> if not status.ready_for_execution:
            ...     print(status.blockers)
        """
        sid = uuid_id("source_id", source_id)
        call = poll_call_options(options)
        path = f"{API}/sources/{sid}/status"
        transport = self._transport
        try:
            return wait_for(
                lambda: self._get(path, models.SourceExecutionStatus, **call),
                _source_settled,
                timeout=timeout,
                poll_interval=poll_interval,
                progress=progress,
                what=f"source {sid}",
                describe=_describe_source,
                # The transport's clock and sleep: one seam for tests, shared with retries.
                clock=transport.clock,
                sleep=transport.sleep,
            )
        except WaitTimeoutError as exc:
            raise _timeout_with_blockers(exc) from None

    def get_source_metadata(
        self, source_id: str, **options: Unpack[CallOptions]
    ) -> SourceMetadataResponse:
        """A source with its discovered archive metadata (`GET /api/v2/sources/{id}/metadata`).

        Args:
            source_id: The source's UUID.

        Returns:
            The registry row, one metadata row per SBID (`metadata_json` redacted by the
            server) and their count.

        Raises:
            InvalidArgumentError: `source_id` is not a UUID; nothing is sent.
            NotFoundError: No such source.

        Example:
            >>> meta = client.get_source_metadata(source.uuid)
            >>> [m.sbid for m in meta.metadata]
            ['72962']
        """
        sid = uuid_id("source_id", source_id)
        return self._get(f"{API}/sources/{sid}/metadata", models.SourceMetadataResponse, **options)

    def list_source_executions(
        self,
        source_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        **options: Unpack[CallOptions],
    ) -> Page[ExecutionRow]:
        """Executions that include a source (`GET /api/v2/sources/{id}/executions`).

        Paged like `list_sources`: iterating walks every page lazily, never asking for an
        empty one.

        Args:
            source_id: The source's UUID.
            limit: Executions per page, 1 to 499.
            offset: Executions to skip before the first page.

        Returns:
            The first page of execution rows, as stored (not enriched or redacted).

        Raises:
            InvalidArgumentError: A bad id, or `limit`/`offset` out of range.
            NotFoundError: No such source.

        Example:
            >>> for row in client.list_source_executions(source.uuid):
            ...     print(row.uuid, row.status)
        """
        sid = uuid_id("source_id", source_id)
        return self._offset_page(
            f"{API}/sources/{sid}/executions",
            models.ExecutionRow,
            limit=limit,
            offset=offset,
            **options,
        )

    def list_source_events(
        self, source_id: str, **options: Unpack[CallOptions]
    ) -> list[ProvenanceEventResponse]:
        """A source's discovery and execution history (`GET /api/v2/sources/{id}/events`).

        The server returns at most the 100 most recent events and has no paging.

        Args:
            source_id: The source's UUID.

        Returns:
            The provenance events (`payload` redacted by the server).

        Raises:
            InvalidArgumentError: `source_id` is not a UUID; nothing is sent.
            NotFoundError: No such source.

        Example:
            >>> [e.event_type for e in client.list_source_events(source.uuid)]
            ['discovery.changed']
        """
        sid = uuid_id("source_id", source_id)
        events: Any = list[models.ProvenanceEventResponse]  # a runtime alias
        result: list[ProvenanceEventResponse] = self._get(
            f"{API}/sources/{sid}/events", events, **options
        )
        return result

    # -- deployment profiles ----------------------------------------------------------------

    def create_deployment_profile(
        self, profile: DeploymentProfile, **options: Unpack[CallOptions]
    ) -> DeploymentProfileResponse:
        """Create a deployment profile (`POST /api/v2/deployment-profiles`, superuser).

        The profile's `deployment` is one member of the `kind`-tagged union:
        `SlurmRemoteDeployment` (`kind: slurm_remote`) or `RestRemoteDeployment`
        (`kind: rest_remote`); its `kind` is always sent.

        Args:
            profile: The profile: name, DALiuGE translation and deployment settings.

        Returns:
            The stored profile (revision, sha256); keys that look secret (such as
            `ssh_credential`) come back as `"[REDACTED]"`.

        Raises:
            InvalidArgumentError: `profile` is not a `DeploymentProfile`, or holds a
                `"[REDACTED]"` value; nothing is sent.
            BadRequestError: The server's validation failed (name, paths, ports...).
            PermissionDeniedError: The user is not a superuser.
            ConflictError: Another profile of the module is already the default.

        Example:
            >>> from controldeck.beampipe import (
            ...     DaliugeTranslationConfig, DeploymentProfile, SlurmRemoteDeployment)
            >>> created = client.create_deployment_profile(DeploymentProfile(
            ...     name="slurm-remote",
            ...     project_module="wallaby_hires",
            ...     translation=DaliugeTranslationConfig(algo="metis", num_par=1, num_islands=1),
            ...     deployment=SlurmRemoteDeployment(
            ...         login_node="setonix.pawsey.org.au", account="pawsey0411",
            ...         home_dir="/home/me", dlg_root="/scratch/me/dlg",
            ...         log_dir="/scratch/me/logs", ssh_credential="setonix"),
            ... ))
            >>> created.deployment.kind
            'slurm_remote'
        """
        body = _check_profile(profile)
        return self._post(
            f"{API}/deployment-profiles", models.DeploymentProfileResponse, json=body, **options
        )

    def list_deployment_profiles(
        self, project_module: str | None = None, **options: Unpack[CallOptions]
    ) -> list[DeploymentProfileResponse]:
        """Deployment profiles, newest first (`GET /api/v2/deployment-profiles`).

        The server takes no query parameters and always returns every profile (the seed's
        `?project_module=` is ignored), so `project_module` is applied here, after the
        request: it keeps the profiles whose `project_module` equals it, as the server's
        own repository filter does. Profiles without a module (which any module may use)
        are then left out; list without a module to see them.

        Args:
            project_module: Keep only this module's profiles; None keeps all.

        Returns:
            The profiles.

        Raises:
            InvalidArgumentError: An empty `project_module`; nothing is sent.

        Example:
            >>> [p.name for p in client.list_deployment_profiles("wallaby_hires")]
            ['slurm-remote']
        """
        module = _optional_module(project_module)
        profiles: Any = list[models.DeploymentProfileResponse]  # a runtime alias
        result: list[DeploymentProfileResponse] = self._get(
            f"{API}/deployment-profiles", profiles, **options
        )
        if module is None:
            return result
        return [p for p in result if p.project_module == module]

    def get_deployment_profile(
        self, profile_id: str, **options: Unpack[CallOptions]
    ) -> DeploymentProfileResponse:
        """One deployment profile (`GET /api/v2/deployment-profiles/{id}`).

        Args:
            profile_id: The profile's UUID.

        Returns:
            The profile; its `deployment` decodes to `SlurmRemoteDeployment`,
            `RestRemoteDeployment`, or `UnknownDeploymentConfig` for a newer `kind`.

        Raises:
            InvalidArgumentError: `profile_id` is not a UUID; nothing is sent.
            NotFoundError: No such profile.

        Example:
            >>> client.get_deployment_profile(created.uuid).revision
            1
        """
        pid = uuid_id("profile_id", profile_id)
        return self._get(
            f"{API}/deployment-profiles/{pid}", models.DeploymentProfileResponse, **options
        )

    def update_deployment_profile(
        self, profile_id: str, profile: DeploymentProfile, **options: Unpack[CallOptions]
    ) -> DeploymentProfileResponse:
        """Replace a deployment profile (`PATCH /api/v2/deployment-profiles/{id}`, superuser).

        Despite the method, the server takes the FULL profile (the same body as create) and
        replaces the stored one: optional fields left unset are cleared or reset, not kept.
        Build the profile from your own settings, not from one read back from the server:
        that one has `"[REDACTED]"` in place of values such as `ssh_credential`, and a
        profile holding `"[REDACTED]"` is refused here before anything is sent.

        Args:
            profile_id: The profile's UUID.
            profile: The whole new profile.

        Returns:
            The stored profile.

        Raises:
            InvalidArgumentError: A bad id, `profile` not a `DeploymentProfile`, or a
                `"[REDACTED]"` value in it; nothing is sent.
            BadRequestError: The server's validation failed.
            PermissionDeniedError: The user is not a superuser.
            NotFoundError: No such profile.
            ConflictError: Another profile of the module is already the default.

        Example:
            >>> profile.max_concurrent_executions = 2
            >>> client.update_deployment_profile(created.uuid, profile).max_concurrent_executions
            2
        """
        pid = uuid_id("profile_id", profile_id)
        body = _check_profile(profile)
        return self._patch(
            f"{API}/deployment-profiles/{pid}",
            models.DeploymentProfileResponse,
            json=body,
            **options,
        )

    def delete_deployment_profile(self, profile_id: str, **options: Unpack[CallOptions]) -> None:
        """Delete a deployment profile (`DELETE /api/v2/deployment-profiles/{id}`, superuser).

        Args:
            profile_id: The profile's UUID.

        Raises:
            InvalidArgumentError: `profile_id` is not a UUID; nothing is sent.
            PermissionDeniedError: The user is not a superuser.
            NotFoundError: No such profile.

        Example:
            >>> client.delete_deployment_profile(created.uuid)
        """
        pid = uuid_id("profile_id", profile_id)
        self._delete(f"{API}/deployment-profiles/{pid}", **options)
