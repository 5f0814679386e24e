"""Beampipe operator endpoints: workers, the Slurm scheduler, DALiuGE, graph preparation,
background jobs, Slurm credential slots, notification channels, alert rules and deliveries
(reference §5.6).

Three lists are not paged the way their query parameters suggest (observability.rs
L405-523): `GET /alert-rules` ignores `limit` and `offset` and returns every rule, and
`GET /alert-deliveries` honours `limit` (the newest N) but ignores `offset`. A lazy
limit/offset pager over either would fetch the same rows again and again, so
`list_alert_rules()` returns the whole list and `list_alert_deliveries(limit=)` the newest
deliveries. `scheduler_jobs()` is a real limit/offset `Page`.

Notification channel `config` holds credentials (webhook URLs, header tokens, SMTP
passwords). The server redacts them in its replies; the values a caller sends are masked
in this client's logs and error messages (see `_config_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_bool, require_str, require_str_list
from controldeck.beampipe._base import API, BeampipeBase, check_limit, uuid_id
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    import uuid

    from controldeck._core._models import Unset
    from controldeck._core._pagination import Page
    from controldeck._generated import beampipe as models
    from controldeck._generated.beampipe import (
        AlertDeliveryResponse,
        AlertRuleRow,
        DaliugeInspectResponse,
        GraphPrepareResponse,
        JobResponse,
        NotificationChannelResponse,
        SchedulerJobRead,
        SchedulerStatusResponse,
        SlurmCredentialSlot,
        WorkerHeartbeatResponse,
        WorkerLeaseRead,
        WorkerPoolSummary,
        WorkerRead,
    )
else:
    models = LazyModule("controldeck._generated.beampipe")

__all__ = ["OperatorsAPI"]

INT32_MAX = 2**31 - 1

REDACTED = "[REDACTED]"
"""What the server puts in place of a secret in a reply (beampipe-security `REDACTED`); sent
back in an update, it keeps the stored value."""

# beampipe-security `is_secret_key`: a key containing one of these (any case) is a secret
# the server redacts; plus the core's generic names it does not cover (`apikey`, `cookie`).
_SECRET_NEEDLES = (
    "password",
    "passphrase",
    "passcode",
    "token",
    "secret",
    "credential",
    "authorization",
    "routing_key",
    "private_key",
    "webhook",
    "api_key",
    "apikey",
    "cookie",
)
# Keys whose values are secret although their names are not: a webhook URL (Slack, Teams,
# Discord) carries its credential in the path, any header may carry a token, and an
# `{"inline_dev": ...}` secret reference holds the secret itself.
_SECRET_CONTAINERS = frozenset({"url", "headers", "inline_dev"})

_SLOT = re.compile(r"[A-Za-z0-9._-]{1,50}")


def _is_secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in _SECRET_CONTAINERS or any(needle in name for needle in _SECRET_NEEDLES)


def _config_secrets(value: Any, secret: bool = False) -> Iterator[str]:
    """The secret strings of a notification channel `config`, to mask in logs and errors.

    A string is secret when some key on its path names a secret (see `_SECRET_NEEDLES`) or
    is `url`, `headers` or `inline_dev`. `{"env": NAME}` and `{"file": PATH}` references
    name where the server finds a secret and are not secret themselves; `[REDACTED]` is
    the server's placeholder.

    Example:
        >>> list(_config_secrets({"url": "https://hooks.example/T1/B2", "template": "slack",
        ...                       "password": {"env": "SMTP_PASSWORD"}}))
        ['https://hooks.example/T1/B2']
    """
    if isinstance(value, Mapping):
        if len(value) == 1 and ("env" in value or "file" in value):
            return
        for key, item in value.items():
            yield from _config_secrets(item, secret or _is_secret_key(str(key)))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _config_secrets(item, secret)
    elif secret and isinstance(value, str) and value != REDACTED:
        yield value


def _json_object(name: str, value: Any) -> dict[str, Any]:
    """A JSON object argument (config, labels, trigger config) as a dict; never echoes it."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidArgumentError(
            f"{name} must be a JSON object (a dict with string keys), got {type(value).__name__}"
        )
    return dict(value)


def _int(name: str, value: Any, *, minimum: int) -> int:
    """An int32 the server accepts (`minimum`..2**31-1), not a bool."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= INT32_MAX:
        raise InvalidArgumentError(
            f"{name} must be an int from {minimum} to {INT32_MAX}, got {value!r:.40}"
        )
    return value


def _flag(name: str, value: Any) -> str | None:
    """A boolean query flag whose server default is false: `"true"`, or left out."""
    return "true" if require_bool(name, value) else None


def _profile(profile: Any) -> dict[str, Any]:
    """The `?profile=` query of the scheduler and DALiuGE probes (absent: the default)."""
    return {} if profile is None else {"profile": require_str("profile", profile)}


def _uuid_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{name} must be a list of UUIDs, got {type(value).__name__}")
    return [uuid_id(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _bool_or_unset(name: str, value: object) -> bool | Unset:
    if value is UNSET:
        return UNSET
    return require_bool(name, value)


def _str_or_unset(name: str, value: object) -> str | Unset:
    return UNSET if value is UNSET else require_str(name, value)


class OperatorsAPI(BeampipeBase):
    """Beampipe workers, scheduler, DALiuGE, graphs, jobs, Slurm credentials, notification
    channels and alerts."""

    # -- workers --------------------------------------------------------------------------

    def list_workers(
        self, *, include_stopped: bool = False, **options: Unpack[CallOptions]
    ) -> list[WorkerRead]:
        """The control-plane workers (`GET /api/v2/workers`).

        Args:
            include_stopped: Also list workers that have stopped.

        Returns:
            Each worker with its derived `health` (`healthy`, `draining`, `stale`,
            `stopped`), active lease count and heartbeat age, ordered by status and name.

        Raises:
            InvalidArgumentError: `include_stopped` is not a bool.

        Example:
            >>> [(w.instance_name, w.health) for w in client.list_workers()]
            [('worker-1', 'healthy')]
        """
        params = {"include_stopped": _flag("include_stopped", include_stopped)}
        return self._get(f"{API}/workers", list[models.WorkerRead], params=params, **options)

    def register_worker(
        self,
        instance_name: str,
        host: str,
        version: str,
        *,
        id: str | uuid.UUID | None = None,  # the wire name
        process_id: int | None = None,
        role: str | None = None,
        pool: str | None = None,
        capabilities: Iterable[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        concurrency_limit: int | None = None,
        **options: Unpack[CallOptions],
    ) -> WorkerRead:
        """Register (or re-register) a worker (`POST /api/v2/workers`, superuser; 201).

        Arguments left as None are not sent and take the server's defaults.

        Args:
            instance_name: The worker instance's name.
            host: The host it runs on.
            version: The worker's software version.
            id: The worker's UUID (default: the server makes one; re-registering the same
                id updates the worker).
            process_id: Its OS process id.
            role: `worker` (the server's default) or `scheduler_worker`.
            pool: The pool it takes jobs from (default `default`).
            capabilities: The job capabilities it offers (default none).
            labels: Free-form labels (default `{}`).
            concurrency_limit: Jobs it runs at once, at least 1 (default 1).

        Returns:
            The registered worker.

        Raises:
            InvalidArgumentError: A blank name, host, version or pool, a bad id, or a
                concurrency limit below 1 (nothing is sent).
            PermissionDeniedError: The user is not a superuser (403).
            BadRequestError: The server rejected the registration (e.g. an unknown role).

        Example:
            >>> worker = client.register_worker("worker-1", "node01", "0.1.6",
            ...                                 pool="gpu", capabilities=["daliuge-deployment"])
            >>> worker.status
            'active'
        """
        body = models.WorkerRegisterRequest(
            instance_name=require_str("instance_name", instance_name),
            host=require_str("host", host),
            version=require_str("version", version),
            id=UNSET if id is None else uuid_id("id", id),
            process_id=UNSET if process_id is None else _int("process_id", process_id, minimum=0),
            role=UNSET if role is None else require_str("role", role),
            pool=UNSET if pool is None else require_str("pool", pool),
            capabilities=(
                UNSET
                if capabilities is None
                else require_str_list("capabilities", capabilities, allow_empty=True)
            ),
            labels=UNSET if labels is None else _json_object("labels", labels),
            concurrency_limit=(
                UNSET
                if concurrency_limit is None
                else _int("concurrency_limit", concurrency_limit, minimum=1)
            ),
        )
        return self._post(f"{API}/workers", models.WorkerRead, json=body, **options)

    def get_worker(self, worker_id: str | uuid.UUID, **options: Unpack[CallOptions]) -> WorkerRead:
        """One worker (`GET /api/v2/workers/{id}`).

        Args:
            worker_id: The worker's UUID.

        Raises:
            InvalidArgumentError: `worker_id` is not a UUID.
            NotFoundError: No such worker (404).

        Example:
            >>> client.get_worker("0192f0c4-9a3b-7c1d-8e2f-00000000a001").pool
            'default'
        """
        path = f"{API}/workers/{uuid_id('worker_id', worker_id)}"
        return self._get(path, models.WorkerRead, **options)

    def heartbeat_worker(
        self, worker_id: str | uuid.UUID, **options: Unpack[CallOptions]
    ) -> WorkerHeartbeatResponse:
        """Record a heartbeat for a worker (`POST /api/v2/workers/{id}/heartbeat`).

        Args:
            worker_id: The worker's UUID.

        Returns:
            The receipt (`accepted`, `recorded_at`).

        Raises:
            InvalidArgumentError: `worker_id` is not a UUID.
            NotFoundError: No such worker (404).

        Example:
            >>> client.heartbeat_worker("0192f0c4-9a3b-7c1d-8e2f-00000000a001").accepted
            True
        """
        path = f"{API}/workers/{uuid_id('worker_id', worker_id)}/heartbeat"
        return self._post(path, models.WorkerHeartbeatResponse, **options)

    def drain_worker(
        self, worker_id: str | uuid.UUID, **options: Unpack[CallOptions]
    ) -> WorkerRead:
        """Stop a worker taking new jobs (`POST /api/v2/workers/{id}/drain`, superuser).

        Args:
            worker_id: The worker's UUID.

        Returns:
            The worker, now `draining`.

        Raises:
            InvalidArgumentError: `worker_id` is not a UUID.
            PermissionDeniedError: The user is not a superuser (403).
            NotFoundError: No such worker (404).

        Example:
            >>> client.drain_worker("0192f0c4-9a3b-7c1d-8e2f-00000000a001").status
            'draining'
        """
        path = f"{API}/workers/{uuid_id('worker_id', worker_id)}/drain"
        return self._post(path, models.WorkerRead, **options)

    def resume_worker(
        self, worker_id: str | uuid.UUID, **options: Unpack[CallOptions]
    ) -> WorkerRead:
        """Let a drained worker take jobs again (`POST /api/v2/workers/{id}/resume`,
        superuser).

        Args:
            worker_id: The worker's UUID.

        Raises:
            InvalidArgumentError: `worker_id` is not a UUID.
            PermissionDeniedError: The user is not a superuser (403).
            NotFoundError: No such worker (404).

        Example:
            >>> client.resume_worker("0192f0c4-9a3b-7c1d-8e2f-00000000a001").status
            'active'
        """
        path = f"{API}/workers/{uuid_id('worker_id', worker_id)}/resume"
        return self._post(path, models.WorkerRead, **options)

    def list_worker_pools(self, **options: Unpack[CallOptions]) -> list[WorkerPoolSummary]:
        """Worker counts and capacity per pool (`GET /api/v2/workers/pools`).

        Example:
            >>> {p.pool: p.active_workers for p in client.list_worker_pools()}
            {'default': 2}
        """
        return self._get(f"{API}/workers/pools", list[models.WorkerPoolSummary], **options)

    def list_worker_leases(
        self,
        *,
        worker_id: str | uuid.UUID | None = None,
        include_expired: bool = False,
        **options: Unpack[CallOptions],
    ) -> list[WorkerLeaseRead]:
        """The job leases of running jobs (`GET /api/v2/workers/leases`).

        Args:
            worker_id: Only the leases this worker holds.
            include_expired: Also list leases that have expired.

        Returns:
            Leases, soonest to expire first.

        Raises:
            InvalidArgumentError: `worker_id` is not a UUID or `include_expired` not a bool.

        Example:
            >>> [l.kind for l in client.list_worker_leases(include_expired=True)]
            ['execute']
        """
        params = {
            "worker_id": None if worker_id is None else uuid_id("worker_id", worker_id),
            "include_expired": _flag("include_expired", include_expired),
        }
        return self._get(
            f"{API}/workers/leases", list[models.WorkerLeaseRead], params=params, **options
        )

    # -- scheduler and DALiuGE ------------------------------------------------------------

    def scheduler_status(
        self, profile: str | None = None, **options: Unpack[CallOptions]
    ) -> SchedulerStatusResponse:
        """Probe the Slurm scheduler of a deployment profile (`GET /api/v2/scheduler/status`).

        The server connects to the login node, so this can take seconds.

        Args:
            profile: A `slurm_remote` deployment profile's name (default: the server's
                default profile).

        Returns:
            The profile's connectivity and its resource request (also rendered as
            `#SBATCH` lines).

        Raises:
            InvalidArgumentError: `profile` is empty.
            NotFoundError: No profile of that name (404).
            BadRequestError: No default profile, or the profile is not `slurm_remote` (400).
            InternalServerError: The scheduler could not be reached (502).

        Example:
            >>> print(client.scheduler_status("setonix").rendered_resource_request)
            #SBATCH --nodes=2
        """
        return self._get(
            f"{API}/scheduler/status",
            models.SchedulerStatusResponse,
            params=_profile(profile),
            **options,
        )

    def scheduler_jobs(
        self, *, limit: int = 100, offset: int = 0, **options: Unpack[CallOptions]
    ) -> Page[SchedulerJobRead]:
        """Executions submitted to Slurm, newest first (`GET /api/v2/scheduler/jobs`).

        Args:
            limit: Rows per page, 1..499 (one more is asked for, to see the end).
            offset: Rows to skip before the first page.

        Returns:
            The first page; iterating it walks the following pages lazily.

        Raises:
            InvalidArgumentError: `limit` outside 1..499 or a negative `offset`.

        Example:
            >>> for job in client.scheduler_jobs(limit=200):
            ...     print(job.execution_id, job.scheduler_state)
        """
        return self._offset_page(
            f"{API}/scheduler/jobs", models.SchedulerJobRead, limit=limit, offset=offset, **options
        )

    def daliuge_inspect(
        self, profile: str | None = None, **options: Unpack[CallOptions]
    ) -> DaliugeInspectResponse:
        """Ask DALiuGE's translator (and manager, if configured) about themselves
        (`GET /api/v2/daliuge/inspect`).

        Args:
            profile: A deployment profile's name (default: the server's default profile,
                else the server settings).

        Returns:
            The profile used and the translator's and manager's answers (any JSON).

        Raises:
            InvalidArgumentError: `profile` is empty.
            NotFoundError: No profile of that name (404).
            BadRequestError: No translator URL is configured (400).
            InternalServerError: DALiuGE could not be reached (502).

        Example:
            >>> client.daliuge_inspect().profile
            'setonix'
        """
        return self._get(
            f"{API}/daliuge/inspect",
            models.DaliugeInspectResponse,
            params=_profile(profile),
            **options,
        )

    def daliuge_sessions(self, profile: str | None = None, **options: Unpack[CallOptions]) -> Any:
        """The Data Island Manager's sessions (`GET /api/v2/daliuge/sessions`).

        Args:
            profile: A deployment profile's name (default: the server's default profile).

        Returns:
            DALiuGE's session list as it sent it (decoded JSON).

        Raises:
            InvalidArgumentError: `profile` is empty.
            NotFoundError: No profile of that name (404).
            BadRequestError: No Data Island Manager URL is configured (400).
            InternalServerError: DALiuGE could not be reached (502).

        Example:
            >>> [s["sessionId"] for s in client.daliuge_sessions("setonix")]
            ['wallaby_hires-0192f0c4']
        """
        return self._transport.request(
            "GET", f"{API}/daliuge/sessions", params=_profile(profile), **options
        )

    # -- graphs and jobs ------------------------------------------------------------------

    def prepare_graph(
        self,
        project_module: str,
        source_identifiers: Iterable[str],
        **options: Unpack[CallOptions],
    ) -> GraphPrepareResponse:
        """Build the manifest and patched DALiuGE graph an execution of these sources would
        use, without creating one (`POST /api/v2/graphs/prepare`).

        Args:
            project_module: The project (e.g. `wallaby_hires`).
            source_identifiers: The sources, at least one.

        Returns:
            The manifest, source and patched graphs (secrets redacted), and their hashes.

        Raises:
            InvalidArgumentError: An empty project or source list (nothing is sent).
            BadRequestError: The server could not prepare the graph (400).
            RateLimitError: The server's rate limit (429).

        Example:
            >>> prepared = client.prepare_graph("wallaby_hires", ["HIPASSJ1318-21"])
            >>> prepared.patched_graph_sha256
            '9f2c...'
        """
        body = models.GraphPrepareRequest(
            project_module=require_str("project_module", project_module),
            source_identifiers=require_str_list("source_identifiers", source_identifiers),
        )
        return self._post(
            f"{API}/graphs/prepare", models.GraphPrepareResponse, json=body, **options
        )

    def enqueue_job(
        self,
        kind: str,
        *,
        payload: Any = None,
        execution_id: str | uuid.UUID | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[CallOptions],
    ) -> JobResponse:
        """Queue a background job (`POST /api/v2/jobs`, superuser; 202).

        `idempotency_key` goes in the request body (the job's own key, not an HTTP
        header): while a job with that key exists, enqueueing again returns it instead of
        queueing a second one, so a call that failed on the way back can simply be
        repeated with the same key.

        Args:
            kind: The job kind (e.g. `scheduler_tick`, `execute`).
            payload: The job's JSON payload (default: none, read as `null`). Inline
                secrets are refused when the server runs in production; the ones sent
                are masked in this client's logs and errors, as in a channel config.
            execution_id: The execution the job belongs to (required by `execute` jobs).
            idempotency_key: The job's deduplication key.

        Returns:
            The queued job (or the existing one with the same key); its payload redacted.

        Raises:
            InvalidArgumentError: An empty kind or key, or a bad execution id.
            PermissionDeniedError: The user is not a superuser (403).
            BadRequestError: The server refused the job (400).
            RateLimitError: The server's rate limit (429).

        Example:
            >>> job = client.enqueue_job("scheduler_tick", idempotency_key="tick-2026-11-23")
            >>> job.status
            'queued'
        """
        body = models.JobCreate(
            kind=require_str("kind", kind),
            payload=UNSET if payload is None else payload,
            execution_id=UNSET if execution_id is None else uuid_id("execution_id", execution_id),
            idempotency_key=(
                UNSET
                if idempotency_key is None
                else require_str("idempotency_key", idempotency_key)
            ),
        )
        return self._call(
            "POST",
            f"{API}/jobs",
            models.JobResponse,
            json=body,
            secrets=tuple(_config_secrets(payload)),
            **options,
        )

    # -- Slurm credential slots -----------------------------------------------------------

    def list_slurm_credentials(self, **options: Unpack[CallOptions]) -> list[SlurmCredentialSlot]:
        """The installed Slurm SSH credential slots (`GET /api/v2/slurm/credentials`).

        Only which files each slot has; never key material.

        Returns:
            The slots (the reply's `slots`).

        Example:
            >>> [(s.name, s.private_key) for s in client.list_slurm_credentials()]
            [('setonix', True)]
        """
        return self._get(
            f"{API}/slurm/credentials",
            list[models.SlurmCredentialSlot],
            unwrap="slots",
            **options,
        )

    def get_slurm_credential(
        self, slot: str, **options: Unpack[CallOptions]
    ) -> SlurmCredentialSlot:
        """One Slurm SSH credential slot (`GET /api/v2/slurm/credentials/{slot}`).

        Args:
            slot: The slot's directory name: 1-50 ASCII letters, digits, `.`, `_` or `-`.

        Returns:
            Which of its files are present.

        Raises:
            InvalidArgumentError: `slot` is not a valid slot name (nothing is sent).
            NotFoundError: No such slot (404).

        Example:
            >>> client.get_slurm_credential("setonix").known_hosts
            True
        """
        require_str("slot", slot)
        if not _SLOT.fullmatch(slot) or ".." in slot:
            raise InvalidArgumentError(
                f"slot must be 1-50 ASCII letters, digits, '.', '_' or '-' (no '..'), "
                f"got {slot!r:.60}"
            )
        return self._get(f"{API}/slurm/credentials/{slot}", models.SlurmCredentialSlot, **options)

    # -- notification channels ------------------------------------------------------------

    def list_notification_channels(
        self, **options: Unpack[CallOptions]
    ) -> list[NotificationChannelResponse]:
        """The alert notification channels, by name (`GET /api/v2/notification-channels`).

        Returns:
            Each channel with its `config` redacted by the server (`secret_fields` names
            the redacted paths).

        Example:
            >>> [(c.name, c.kind) for c in client.list_notification_channels()]
            [('ops-slack', 'webhook')]
        """
        return self._get(
            f"{API}/notification-channels", list[models.NotificationChannelResponse], **options
        )

    def create_notification_channel(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        *,
        enabled: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> NotificationChannelResponse:
        """Create a notification channel (`POST /api/v2/notification-channels`, superuser;
        201).

        The secrets in `config` (the webhook URL, header values, keys naming a password,
        token, secret, routing key...) are masked in this client's logs and errors. In
        production the server refuses inline secrets: pass `{"env": "VAR"}` or
        `{"file": "/path"}` references instead.

        Args:
            name: The channel's name.
            kind: `webhook` or `email`.
            config: For a webhook `{"url": ..., "template": "generic"|"slack"|"pagerduty",
                "headers": {...}}`; for email `{"smtp_host": ..., "to": [...], "from": ...,
                "user": ..., "password": ...}`.
            enabled: Whether rules may use it (the server's default is True).

        Returns:
            The channel, its `config` redacted.

        Raises:
            InvalidArgumentError: An empty name or kind, or `config` not a dict.
            PermissionDeniedError: The user is not a superuser (403).
            BadRequestError: An unknown kind, a missing `url`/`smtp_host`, or inline
                secrets in production (400).

        Example:
            >>> channel = client.create_notification_channel(
            ...     "ops-slack", "webhook",
            ...     {"url": "https://hooks.slack.com/services/...", "template": "slack"})
            >>> channel.secret_fields
            []
        """
        config = _json_object("config", config)
        body = models.NotificationChannelCreate(
            name=require_str("name", name),
            kind=require_str("kind", kind),
            config=config,
            enabled=UNSET if enabled is None else _bool_or_unset("enabled", enabled),
        )
        return self._call(
            "POST",
            f"{API}/notification-channels",
            models.NotificationChannelResponse,
            json=body,
            secrets=tuple(_config_secrets(config)),
            **options,
        )

    def update_notification_channel(
        self,
        channel_id: str | uuid.UUID,
        *,
        name: str | Unset = UNSET,
        config: Mapping[str, Any] | Unset = UNSET,
        enabled: bool | Unset = UNSET,
        **options: Unpack[CallOptions],
    ) -> NotificationChannelResponse:
        """Change a notification channel (`PATCH /api/v2/notification-channels/{id}`,
        superuser).

        `config` is merged key by key into the stored one: keys left out keep their
        values, a `"[REDACTED]"` value (as the server shows a secret) keeps the stored
        secret, and in `headers` a None value removes that header (`"headers": None`
        removes them all). So a config read from the server can be edited and sent back.
        Secrets in `config` are masked in this client's logs and errors.

        Args:
            channel_id: The channel's UUID.
            name: A new name.
            config: Config keys to change.
            enabled: Enable or disable it.

        Returns:
            The updated channel, its `config` redacted.

        Raises:
            InvalidArgumentError: Nothing to change, a bad id, or `config` not a dict.
            PermissionDeniedError: The user is not a superuser (403).
            NotFoundError: No such channel (404).
            BadRequestError: The merged config is invalid (400).

        Example:
            >>> client.update_notification_channel(
            ...     "0192f0c4-9a3b-7c1d-8e2f-00000000c001", enabled=False).enabled
            False
        """
        path = f"{API}/notification-channels/{uuid_id('channel_id', channel_id)}"
        if name is UNSET and config is UNSET and enabled is UNSET:
            raise InvalidArgumentError(
                "update_notification_channel() needs at least one of name, config, enabled"
            )
        changes = UNSET if config is UNSET else _json_object("config", config)
        body = models.NotificationChannelUpdate(
            name=_str_or_unset("name", name),
            config=changes,
            enabled=_bool_or_unset("enabled", enabled),
        )
        return self._call(
            "PATCH",
            path,
            models.NotificationChannelResponse,
            json=body,
            secrets=tuple(_config_secrets(changes)) if changes is not UNSET else (),
            **options,
        )

    def delete_notification_channel(
        self, channel_id: str | uuid.UUID, **options: Unpack[CallOptions]
    ) -> None:
        """Delete a notification channel (`DELETE /api/v2/notification-channels/{id}`,
        superuser; 204).

        Args:
            channel_id: The channel's UUID.

        Raises:
            InvalidArgumentError: `channel_id` is not a UUID.
            PermissionDeniedError: The user is not a superuser (403).
            NotFoundError: No such channel (404).

        Example:
            >>> client.delete_notification_channel("0192f0c4-9a3b-7c1d-8e2f-00000000c001")
        """
        self._delete(f"{API}/notification-channels/{uuid_id('channel_id', channel_id)}", **options)

    def test_notification_channel(
        self, channel_id: str | uuid.UUID, **options: Unpack[CallOptions]
    ) -> Any:
        """Send a test alert through a channel (`POST
        /api/v2/notification-channels/{id}/test`, superuser).

        The reply does not say whether the send worked: look up the delivery with
        `list_alert_deliveries()`.

        Args:
            channel_id: The channel's UUID.

        Returns:
            The server's JSON; this version sends `{"delivery_id": ..., "status":
            "sent_or_failed"}`.

        Raises:
            InvalidArgumentError: `channel_id` is not a UUID.
            PermissionDeniedError: The user is not a superuser (403).
            BadRequestError: No such channel, or the test could not be recorded (400).

        Example:
            >>> client.test_notification_channel("0192f0c4-9a3b-7c1d-8e2f-00000000c001")
            {'delivery_id': '0192f0c4-...', 'status': 'sent_or_failed'}
        """
        path = f"{API}/notification-channels/{uuid_id('channel_id', channel_id)}/test"
        return self._transport.request("POST", path, **options)

    # -- alert rules and deliveries -------------------------------------------------------

    def list_alert_rules(self, **options: Unpack[CallOptions]) -> list[AlertRuleRow]:
        """Every alert rule, by name (`GET /api/v2/alert-rules`).

        The server takes `limit` and `offset` but ignores them and always returns every
        rule (observability.rs L405-414), so this sends neither and returns one list.

        Example:
            >>> [(r.name, r.trigger_kind) for r in client.list_alert_rules()]
            [('failed-runs', 'execution_terminal')]
        """
        return self._get(f"{API}/alert-rules", list[models.AlertRuleRow], **options)

    def create_alert_rule(
        self,
        name: str,
        trigger_kind: str,
        channel_ids: Iterable[str | uuid.UUID],
        *,
        trigger_config: Mapping[str, Any] | None = None,
        project_module: str | None = None,
        severity: str | None = None,
        cooldown_minutes: int | None = None,
        enabled: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> AlertRuleRow:
        """Create an alert rule (`POST /api/v2/alert-rules`, superuser; 201).

        Arguments left as None are not sent and take the server's defaults.

        Args:
            name: The rule's name.
            trigger_kind: `execution_terminal`, `discovery_changed`, `pending_backlog`,
                `pending_stale`, `discovery_stall`, `dependency_down` or `daily_summary`
                (the server rejects others).
            channel_ids: The notification channels to alert (may be empty).
            trigger_config: The trigger's settings, e.g. `{"threshold": 50}` for
                `pending_backlog` (default `{}`: the trigger's defaults).
            project_module: Only for this project (default: every project).
            severity: The alerts' severity (the server's default is `warning`).
            cooldown_minutes: Minutes between two alerts of the rule (default 60).
            enabled: Whether it fires (default True).

        Returns:
            The new rule.

        Raises:
            InvalidArgumentError: An empty name or kind, a channel id that is not a UUID,
                `trigger_config` not a dict, or a negative cooldown (nothing is sent).
            PermissionDeniedError: The user is not a superuser (403).
            BadRequestError: An unknown `trigger_kind` (400).

        Example:
            >>> rule = client.create_alert_rule(
            ...     "failed-runs", "execution_terminal",
            ...     ["0192f0c4-9a3b-7c1d-8e2f-00000000c001"], severity="critical")
            >>> rule.cooldown_minutes
            60
        """
        body = models.AlertRuleCreate(
            name=require_str("name", name),
            trigger_kind=require_str("trigger_kind", trigger_kind),
            channel_ids=_uuid_list("channel_ids", channel_ids),
            trigger_config=(
                {} if trigger_config is None else _json_object("trigger_config", trigger_config)
            ),
            project_module=(
                UNSET if project_module is None else require_str("project_module", project_module)
            ),
            severity=UNSET if severity is None else require_str("severity", severity),
            cooldown_minutes=(
                UNSET
                if cooldown_minutes is None
                else _int("cooldown_minutes", cooldown_minutes, minimum=0)
            ),
            enabled=UNSET if enabled is None else _bool_or_unset("enabled", enabled),
        )
        return self._post(f"{API}/alert-rules", models.AlertRuleRow, json=body, **options)

    def update_alert_rule(
        self,
        rule_id: str | uuid.UUID,
        *,
        name: str | Unset = UNSET,
        trigger_kind: str | Unset = UNSET,
        trigger_config: Mapping[str, Any] | Unset = UNSET,
        channel_ids: Iterable[str | uuid.UUID] | Unset = UNSET,
        project_module: str | Unset = UNSET,
        severity: str | Unset = UNSET,
        cooldown_minutes: int | Unset = UNSET,
        enabled: bool | Unset = UNSET,
        **options: Unpack[CallOptions],
    ) -> AlertRuleRow:
        """Change an alert rule (`PATCH /api/v2/alert-rules/{id}`, superuser).

        Only the arguments given are sent; the others keep their values. The server has
        no way to clear `project_module` once set (None is refused here).

        Args:
            rule_id: The rule's UUID.
            name: A new name.
            trigger_kind: A new trigger (see `create_alert_rule`).
            trigger_config: New trigger settings (replace the old ones).
            channel_ids: The new list of channels.
            project_module: Restrict the rule to this project.
            severity: A new severity.
            cooldown_minutes: A new cooldown.
            enabled: Enable or disable it.

        Returns:
            The updated rule.

        Raises:
            InvalidArgumentError: Nothing to change, or a bad id or value.
            PermissionDeniedError: The user is not a superuser (403).
            NotFoundError: No such rule (404).
            BadRequestError: An unknown `trigger_kind` (400).

        Example:
            >>> client.update_alert_rule("0192f0c4-9a3b-7c1d-8e2f-00000000b001",
            ...                          enabled=False).enabled
            False
        """
        path = f"{API}/alert-rules/{uuid_id('rule_id', rule_id)}"
        given = (
            name,
            trigger_kind,
            trigger_config,
            channel_ids,
            project_module,
            severity,
            cooldown_minutes,
            enabled,
        )
        if all(value is UNSET for value in given):
            raise InvalidArgumentError("update_alert_rule() needs at least one field to change")
        body = models.AlertRuleUpdate(
            name=_str_or_unset("name", name),
            trigger_kind=_str_or_unset("trigger_kind", trigger_kind),
            trigger_config=(
                UNSET if trigger_config is UNSET else _json_object("trigger_config", trigger_config)
            ),
            channel_ids=(UNSET if channel_ids is UNSET else _uuid_list("channel_ids", channel_ids)),
            project_module=_str_or_unset("project_module", project_module),
            severity=_str_or_unset("severity", severity),
            cooldown_minutes=(
                UNSET
                if cooldown_minutes is UNSET
                else _int("cooldown_minutes", cooldown_minutes, minimum=0)
            ),
            enabled=_bool_or_unset("enabled", enabled),
        )
        return self._patch(path, models.AlertRuleRow, json=body, **options)

    def delete_alert_rule(self, rule_id: str | uuid.UUID, **options: Unpack[CallOptions]) -> None:
        """Delete an alert rule (`DELETE /api/v2/alert-rules/{id}`, superuser; 204).

        Args:
            rule_id: The rule's UUID.

        Raises:
            InvalidArgumentError: `rule_id` is not a UUID.
            PermissionDeniedError: The user is not a superuser (403).
            NotFoundError: No such rule (404).

        Example:
            >>> client.delete_alert_rule("0192f0c4-9a3b-7c1d-8e2f-00000000b001")
        """
        self._delete(f"{API}/alert-rules/{uuid_id('rule_id', rule_id)}", **options)

    def list_alert_deliveries(
        self, *, limit: int = 50, **options: Unpack[CallOptions]
    ) -> list[AlertDeliveryResponse]:
        """The most recent alert deliveries, newest first (`GET /api/v2/alert-deliveries`).

        The server honours `limit` but ignores `offset` (observability.rs L508-523), so
        older deliveries than the newest 500 cannot be read; this is one request.

        Args:
            limit: How many, 1..500 (the server's default is 50).

        Returns:
            The deliveries (payload and error redacted by the server).

        Raises:
            InvalidArgumentError: `limit` outside 1..500.

        Example:
            >>> [(d.status, d.error) for d in client.list_alert_deliveries(limit=5)]
            [('failed', 'HTTP 404 Not Found')]
        """
        params = {"limit": check_limit("limit", limit)}
        return self._get(
            f"{API}/alert-deliveries", list[models.AlertDeliveryResponse], params=params, **options
        )
