"""Runs of a project's scripts (`client.project(pid).executions`).

`ScopedExecutionsClient` also has every method of `ExecutionsClient`, as upstream's scoped
client derefs to the global one (reference §2), so `scope.executions.await_execution(eid)`
works too.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._bodies import MultipartBody, Part
from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions, PollOptions, poll_call_options
from controldeck._core._pagination import Page
from controldeck._core._validate import require_str
from controldeck.akribes._base import ProjectResource, segment
from controldeck.akribes._execution_ids import ExecutionsClient
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._core._streams import Stream
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        CostAggregation,
        EngineEvent,
        ExecutionOutput,
        ExecutionStatus,
        GraphResponse,
        ProjectCost,
        RunResult,
        S3DocumentRef,
    )
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["ExecutionsClient", "ScopedExecutionsClient", "UploadFile"]

UploadFile = str | os.PathLike[str] | bytes | tuple[str, bytes | os.PathLike[str]]
"""A file for `run_with_upload`: a path (streamed from disk), bytes (announced under the
input's name), or `(filename, bytes or path)`."""


def _inputs(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise InvalidArgumentError("inputs must be a mapping of input names to values")
    return dict(value)


def _lines(value: Any) -> list[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidArgumentError("breakpoint_lines must be a list of line numbers")
    for line in value:
        if not isinstance(line, int) or isinstance(line, bool) or line < 0:
            raise InvalidArgumentError(f"breakpoint_lines must hold ints >= 0, got {line!r:.40}")
    return list(value)


def _node_ids(value: Any) -> list[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidArgumentError("skip_node_ids must be a list of graph node ids")
    for node in value:
        if not isinstance(node, int) or isinstance(node, bool) or node < 0:
            raise InvalidArgumentError(f"skip_node_ids must hold ints >= 0, got {node!r:.40}")
    return list(value)


def _optional_str(name: str, value: Any) -> str | None:
    return None if value is None else require_str(name, value)


def _instant(name: str, value: Any) -> str | None:
    """A query bound: an aware datetime as ISO 8601, or a string passed through."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # The server compares against UTC timestamps; a naive time would be a guess.
            raise InvalidArgumentError(
                f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc))"
            )
        return value.isoformat()
    return require_str(name, value)


class ScopedExecutionsClient(ExecutionsClient, ProjectResource):
    """Runs of one project's scripts; also every `ExecutionsClient` method.

    Example:
        >>> runs = client.project(7).executions
        >>> run, output = runs.run_and_await("triage", inputs={"ticket": "T-1"})
    """

    def _script(self, name: str, *rest: str) -> str:
        return self._path("scripts", segment("name", name), *rest)

    def _who(self, triggered_by: str | None) -> str:
        # Upstream attributes runs to the client's name unless told otherwise.
        return (
            self._client.name if triggered_by is None else require_str("triggered_by", triggered_by)
        )

    def run(
        self,
        name: str,
        *,
        channel: str = "production",
        inputs: Mapping[str, Any] | None = None,
        triggered_by: str | None = None,
        breakpoint_lines: Sequence[int] | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[CallOptions],
    ) -> RunResult:
        """Start a run of a published script.

        Every run carries an `Idempotency-Key` (generated when not given) that is reused on
        each retry, so the server starts it at most once.

        Args:
            name: The script.
            channel: The channel whose version runs.
            inputs: Input values by name; a document input takes a document id.
            triggered_by: Who started it (default: the client's `name`).
            breakpoint_lines: Source lines to pause at.
            idempotency_key: Your own key, to deduplicate across separate calls too.

        Returns:
            The `execution_id`.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            InvalidInputsError: The inputs do not match the script (`.input_errors`).
            NotFoundError: No such script or channel.

        Example:
            >>> client.project(7).executions.run("triage", inputs={"ticket": "T-1"}).execution_id
            'abc-456'
        """
        path = self._script(name, "run")
        key = _optional_str("idempotency_key", idempotency_key)
        body = models.RunRequest(
            inputs=UNSET if inputs is None else _inputs(inputs),
            triggered_by=self._who(triggered_by),
            breakpoint_lines=UNSET if breakpoint_lines is None else _lines(breakpoint_lines),
        )
        return self._client._call(
            "POST",
            path,
            models.RunResult,
            params={"channel": require_str("channel", channel)},
            json=body,
            idempotency_key=key or True,
            **options,
        )

    def run_and_await(
        self,
        name: str,
        *,
        channel: str = "production",
        inputs: Mapping[str, Any] | None = None,
        triggered_by: str | None = None,
        breakpoint_lines: Sequence[int] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        progress: bool | None = None,
        **options: Unpack[PollOptions],
    ) -> tuple[RunResult, ExecutionOutput]:
        """Start a run and wait for it to complete (`run` then `await_execution`).

        Args:
            name: The script.
            channel: As for `run`.
            inputs: As for `run`.
            triggered_by: As for `run`.
            breakpoint_lines: As for `run`.
            idempotency_key: As for `run`.
            timeout: As for `await_execution` (None: no limit).
            poll_interval: As for `await_execution`.
            progress: As for `await_execution`.
            options: `request_timeout=`, `max_retries=`, `extra_headers=` for every request.

        Returns:
            The run (its `execution_id`) and its final output.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            InvalidInputsError: The inputs do not match the script.
            ExecutionFailedError: The run ended `failed` or `cancelled`.
            WaitTimeoutError: `timeout` passed first.

        Example:
            >>> run, output = client.project(7).executions.run_and_await("triage", timeout=600)
            >>> output.result
        """
        call = poll_call_options(options)
        # Checked here so that a bad wait argument fails before the run is started.
        _check_wait(timeout, poll_interval, progress)
        run = self.run(
            name,
            channel=channel,
            inputs=inputs,
            triggered_by=triggered_by,
            breakpoint_lines=breakpoint_lines,
            idempotency_key=idempotency_key,
            **call,
        )
        output = self.await_execution(
            run.execution_id,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            **options,
        )
        return run, output

    def run_stream(
        self,
        name: str,
        *,
        channel: str = "production",
        inputs: Mapping[str, Any] | None = None,
        triggered_by: str | None = None,
        breakpoint_lines: Sequence[int] | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[EngineEvent]:
        """Start a run and stream its engine events until it ends.

        The project's event stream is attached before the run is posted, so no event is
        lost; the stream ends after this execution's `WorkflowEnd` or `Error`.

        Args:
            name: The script.
            channel: As for `run`.
            inputs: As for `run`.
            triggered_by: As for `run`.
            breakpoint_lines: As for `run`.
            idempotency_key: As for `run`.

        Returns:
            A stream of the run's engine events (use it in a `with` block).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            StreamError: The event stream broke for good.

        Example:
            >>> with client.project(7).executions.run_stream("triage") as events:
            ...     for event in events:
            ...         print(event.type)
        """
        from controldeck.akribes._events import watch_run

        require_str("name", name)

        def start() -> str:
            return self.run(
                name,
                channel=channel,
                inputs=inputs,
                triggered_by=triggered_by,
                breakpoint_lines=breakpoint_lines,
                idempotency_key=idempotency_key,
                **options,
            ).execution_id

        return watch_run(self._client, self.project_id, name, start=start, **options)

    def list(
        self,
        name: str,
        *,
        status: str | None = None,
        channel: str | None = None,
        failure_mode: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[ExecutionStatus]:
        """A script's run history, newest first, paged lazily.

        Args:
            name: The script.
            status: Only runs with this status (`completed`, `failed`...).
            channel: Only runs on this channel.
            failure_mode: Only runs with this failure mode.
            since: Only runs started at or after this time (aware datetime or ISO 8601).
            until: Only runs started at or before this time.

        Returns:
            A page of executions; iterating it fetches the following pages. Empty on 404.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.

        Example:
            >>> [e.id for e in client.project(7).executions.list("triage", status="failed")]
        """
        params = _filters(status, channel, failure_mode, since, until)
        return self._list(
            self._script(name, "executions"), models.ExecutionStatus, params=params, **options
        )

    def list_for_project(
        self,
        *,
        script_name: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        failure_mode: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[ExecutionStatus]:
        """The project's run history across scripts, paged lazily.

        Args:
            script_name: Only this script's runs.
            status: As for `list`.
            channel: As for `list`.
            failure_mode: As for `list`.
            since: As for `list`.
            until: As for `list`.

        Returns:
            A page of executions; empty on 404.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.

        Example:
            >>> for execution in client.project(7).executions.list_for_project(status="running"):
            ...     print(execution.script_name, execution.id)
        """
        params = {
            "script_name": _optional_str("script_name", script_name),
            **_filters(status, channel, failure_mode, since, until),
        }
        return self._list(
            self._path("executions"), models.ExecutionStatus, params=params, **options
        )

    def cancel_run(self, name: str, **options: Unpack[CallOptions]) -> bool:
        """Cancel every running execution of a script.

        Args:
            name: The script.

        Returns:
            True when the server accepted, False on 404 (nothing to cancel).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> client.project(7).executions.cancel_run("triage")
            True
        """
        return self._client._delete_found(self._script(name, "run"), **options)

    def run_from(
        self,
        name: str,
        seed_env: Mapping[str, Any],
        skip_node_ids: Sequence[int],
        *,
        channel: str = "draft",
        inputs: Mapping[str, Any] | None = None,
        triggered_by: str | None = None,
        **options: Unpack[CallOptions],
    ) -> RunResult:
        """Run a script again from a point of its graph, with variables already set.

        Args:
            name: The script.
            seed_env: Variables to start from.
            skip_node_ids: Graph nodes (see `get_graph`) not to run again.
            channel: The channel whose version runs (default `draft`, as upstream).
            inputs: Input values by name.
            triggered_by: Who started it (default: the client's `name`).

        Returns:
            The `execution_id`.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such script.

        Example:
            >>> client.project(7).executions.run_from("triage", {"x": 1}, [0, 1]).execution_id
        """
        path = self._script(name, "run", "from")
        if not isinstance(seed_env, Mapping) or not all(isinstance(k, str) for k in seed_env):
            raise InvalidArgumentError("seed_env must be a mapping of variable names to values")
        body = models.RunFromRequest(
            seed_env=dict(seed_env),
            skip_node_ids=_node_ids(skip_node_ids),
            inputs=UNSET if inputs is None else _inputs(inputs),
            triggered_by=self._who(triggered_by),
        )
        return self._client._post(
            path,
            models.RunResult,
            params={"channel": require_str("channel", channel)},
            json=body,
            **options,
        )

    def run_with_upload(
        self,
        name: str,
        files: Mapping[str, UploadFile],
        *,
        channel: str = "production",
        triggered_by: str | None = None,
        **options: Unpack[CallOptions],
    ) -> RunResult:
        """Run a script with files uploaded as its document inputs.

        Files given by path are streamed from disk (never read into memory whole).

        Args:
            name: The script.
            files: Document input name → a path, bytes, or `(filename, bytes or path)`.
            channel: The channel whose version runs.
            triggered_by: Who started it (default: the client's `name`).

        Returns:
            The `execution_id`.

        Raises:
            InvalidArgumentError: A bad argument or unreadable file; nothing was sent.
            InvalidInputsError: The inputs do not match the script.
            DocumentConversionError: A file could not be converted.

        Example:
            >>> scope = client.project(7)
            >>> scope.executions.run_with_upload("triage", {"doc": "report.pdf"}).execution_id
        """
        path = self._script(name, "run", "upload")
        if not isinstance(files, Mapping) or not files:
            raise InvalidArgumentError("files must be a non-empty mapping of input names to files")
        parts = [_file_part(input_name, file) for input_name, file in files.items()]
        meta = json.dumps({"triggered_by": self._who(triggered_by)})
        body = MultipartBody([*parts, Part("_meta", meta)])
        return self._client._post(
            path,
            models.RunResult,
            params={"channel": require_str("channel", channel)},
            body=body,
            **options,
        )

    def run_with_s3(
        self,
        name: str,
        inputs: Mapping[str, S3DocumentRef],
        *,
        channel: str | None = None,
        triggered_by: str | None = None,
        **options: Unpack[CallOptions],
    ) -> RunResult:
        """Run a script with S3 objects as its document inputs.

        Args:
            name: The script.
            inputs: Document input name → `S3PresignedRef(presigned_url=...)` or
                `S3CredentialsRef(bucket=..., key=..., access_key_id=...,
                secret_access_key=...)` (secrets are masked in logs and errors).
            channel: The channel whose version runs (the server's default when None).
            triggered_by: Who started it (default: the client's `name`).

        Returns:
            The `execution_id`.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            InvalidInputsError: The inputs do not match the script.

        Example:
            >>> from controldeck.akribes import S3PresignedRef
            >>> ref = S3PresignedRef(presigned_url="https://bucket.s3.amazonaws.com/a.pdf?...")
            >>> client.project(7).executions.run_with_s3("triage", {"doc": ref}).execution_id
        """
        path = self._script(name, "run", "s3")
        refs = (models.S3PresignedRef, models.S3CredentialsRef)
        if (
            not isinstance(inputs, Mapping)
            or not inputs
            or not all(isinstance(k, str) and k and isinstance(v, refs) for k, v in inputs.items())
        ):
            raise InvalidArgumentError(
                "inputs must map input names to S3PresignedRef or S3CredentialsRef"
            )
        secrets = [
            secret
            for ref in inputs.values()
            if isinstance(ref, models.S3CredentialsRef)
            for secret in (ref.secret_access_key, ref.session_token)
            if isinstance(secret, str)
        ]
        body = models.RunWithS3Request(
            inputs=dict(inputs),
            channel=UNSET if channel is None else require_str("channel", channel),
            triggered_by=self._who(triggered_by),
        )
        return self._client._call(
            "POST", path, models.RunResult, json=body, secrets=secrets, **options
        )

    def get_graph(
        self, name: str, *, version_id: int | None = None, **options: Unpack[CallOptions]
    ) -> GraphResponse:
        """A script's execution graph (nodes and edges), e.g. for `run_from`.

        Args:
            name: The script.
            version_id: The published version to graph (default: the draft).

        Returns:
            The graph.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such script or version.

        Example:
            >>> [n.op_type for n in client.project(7).executions.get_graph("triage").nodes]
        """
        path = self._script(name, "graph")
        if version_id is not None and (
            not isinstance(version_id, int) or isinstance(version_id, bool) or version_id < 0
        ):
            raise InvalidArgumentError(f"version_id must be an int >= 0, got {version_id!r:.40}")
        return self._client._get(
            path, models.GraphResponse, params={"version": version_id}, **options
        )

    def get_project_cost(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        **options: Unpack[CallOptions],
    ) -> ProjectCost:
        """The project's cost and token totals.

        Args:
            since: Lower bound (aware datetime, or a string passed as given).
            until: Upper bound.

        Returns:
            The totals.

        Raises:
            InvalidArgumentError: A bad bound; nothing was sent.

        Example:
            >>> client.project(7).executions.get_project_cost().total_cost_usd
            12.5
        """
        params = {"since": _instant("since", since), "until": _instant("until", until)}
        return self._client._get(self._path("cost"), models.ProjectCost, params=params, **options)

    def get_cost(self, name: str, **options: Unpack[CallOptions]) -> CostAggregation:
        """A script's cost and token totals, by version.

        Args:
            name: The script.

        Returns:
            The totals; all zeros when the server answers 404 (as upstream).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> client.project(7).executions.get_cost("triage").total_executions
            42
        """
        found = self._client._get_or_none(
            self._script(name, "cost"), models.CostAggregation, **options
        )
        if found is not None:
            return found
        return models.CostAggregation(
            total_executions=0,
            total_cost_usd=0.0,
            avg_cost_usd=0.0,
            total_input_tokens=0,
            total_output_tokens=0,
        )


def _filters(
    status: str | None,
    channel: str | None,
    failure_mode: str | None,
    since: datetime | str | None,
    until: datetime | str | None,
) -> dict[str, Any]:
    return {
        "status": _optional_str("status", status),
        "channel": _optional_str("channel", channel),
        "failure_mode": _optional_str("failure_mode", failure_mode),
        "since": _instant("since", since),
        "until": _instant("until", until),
    }


def _file_part(input_name: Any, file: Any) -> Part:
    name = require_str("files key", input_name)
    if name == "_meta":
        raise InvalidArgumentError("'_meta' is reserved for the run's metadata part")
    filename: str | None = None
    if isinstance(file, tuple):
        if len(file) != 2 or not isinstance(file[0], str):
            raise InvalidArgumentError(f"files[{name!r}] must be (filename, bytes or path)")
        filename, file = require_str(f"filename of files[{name!r}]", file[0]), file[1]
    if isinstance(file, str):
        file = Path(file)  # a string is a path here, as for `convert_file`
    if isinstance(file, bytes | bytearray):
        # Upstream always names the file; bytes alone are announced under the input's name.
        return Part(name, bytes(file), filename=filename or name)
    if isinstance(file, os.PathLike):
        return Part(name, file, filename=filename)
    raise InvalidArgumentError(
        f"files[{name!r}] must be a path, bytes or (filename, bytes), got {type(file).__name__}"
    )


def _check_wait(timeout: Any, poll_interval: Any, progress: Any) -> None:
    """The wait's arguments, checked before a run starts (`wait_for` checks them again)."""
    for name, value, optional in (
        ("timeout", timeout, True),
        ("poll_interval", poll_interval, False),
    ):
        if value is None and optional:
            continue
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InvalidArgumentError(f"{name} must be positive seconds, got {value!r:.40}")
    if progress is not None and not isinstance(progress, bool):
        raise InvalidArgumentError(f"progress must be True, False or None, got {progress!r:.40}")
