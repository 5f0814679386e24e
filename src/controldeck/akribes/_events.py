"""Event streams: the project hub (SSE), ad-hoc runs, and the events of one run.

The hub is `GET /events?project_id=<pid>[&script_name=<name>]` (reference §4): `event:
batch` messages (or unnamed ones) whose data is a JSON array of hub events. Everything
else (`ping`, keepalive comments) is skipped. A dropped connection is reopened by the
engine's `sse_stream` with `Last-Event-ID`; a clean end of the body ends the stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions
from controldeck._core._streams import Flatten, Stream, sse_stream
from controldeck._core._validate import require_str
from controldeck.akribes._base import ProjectResource, project_id_of
from controldeck.errors import InvalidArgumentError, ResponseValidationError, StreamError

if TYPE_CHECKING:
    import requests

    from controldeck._core._sse import ServerSentEvent
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        EngineEvent,
        HubEvent,
        WorkflowEndEvent,
        WorkflowEndSummary,
    )
    from controldeck.akribes._client import AkribesClient
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = [
    "ADHOC_SCRIPT",
    "EventsClient",
    "is_run_end",
    "run_adhoc_stream",
    "watch_run",
    "workflow_end_result",
]

ADHOC_SCRIPT = "adhoc"
"""The `script_name` ad-hoc runs are published under on the hub."""

_BATCH_NAMES = frozenset({"batch", "message"})  # "message": the SSE name of an unnamed event
# Upstream parses `id:` as an i64 and ignores any other id (reference §8.1); the spec only
# allows such a cursor in `Last-Event-ID`.
_CURSOR = re.compile(r"-?[0-9]+")
# A WorkflowEnd payload is the current shape only with `value` and one of these (§8.10).
_TOTALS = frozenset(
    {
        "total_input_tokens",
        "total_output_tokens",
        "total_cached_input_tokens",
        "total_thinking_tokens",
        "total_tool_tokens",
        "total_cost_usd",
        "task_count",
    }
)


def _idle_limit(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidArgumentError(
            f"idle_timeout must be positive, finite seconds or None, got {value!r:.40}"
        )
    return float(value)


class _HubFeed:
    """One hub subscription: opens (and reopens) the response and decodes its batches."""

    def __init__(
        self,
        client: AkribesClient,
        params: Mapping[str, Any],
        idle: float | None,
        options: CallOptions,
    ) -> None:
        extra = options.pop("extra_headers", None) or {}
        if not isinstance(extra, Mapping):
            raise InvalidArgumentError(f"extra_headers must be a mapping, got {extra!r:.40}")
        self._client = client
        self._params = params
        self._idle = idle
        self._headers = {**extra, "Accept": "text/event-stream"}
        self._options = options
        self._cursor: str | None = None  # the numeric `id:` of the last message delivered

    def open(self, _resume: Mapping[str, str]) -> requests.Response:
        # Akribes cursors are numeric (upstream ignores any other id, R/sub/events.rs:641),
        # so the feed keeps its own: the last numeric id of a message actually delivered.
        headers = dict(self._headers)
        if self._cursor is not None:
            headers["Last-Event-ID"] = self._cursor
        return self._client._transport.send(
            "GET",
            "/events",
            params=self._params,
            stream=True,
            stream_idle=self._idle,
            extra_headers=headers,
            **self._options,
        )

    def parse(self, event: ServerSentEvent) -> list[HubEvent] | None:
        if event.id is not None and _CURSOR.fullmatch(event.id):
            self._cursor = event.id
        if event.event not in _BATCH_NAMES:
            return None  # `ping` and names this version does not know
        data = event.json()
        if not isinstance(data, list):
            raise StreamError(
                f"hub batch (id {event.id!r}) is not a JSON array but {type(data).__name__}"
            )
        try:
            batch: list[HubEvent] = self._client._structure(data, models.HubEventBatch)
        except ResponseValidationError as exc:
            raise ResponseValidationError(
                f"hub batch (id {event.id!r}) did not match HubEvent: "
                f"{exc.problems[0] if exc.problems else exc}",
                path=exc.path,
                problems=exc.problems,
            ) from None
        return batch


def is_run_end(event: EngineEvent) -> bool:
    """Whether an engine event ends its run: `WorkflowEnd` or `Error`.

    Args:
        event: An engine event.

    Returns:
        True for the last event a run emits.

    Example:
        >>> is_run_end(ErrorEvent(payload=ErrorPayload(message="boom", kind="ScriptError")))
        True
    """
    return isinstance(event, models.WorkflowEndEvent | models.ErrorEvent)


def workflow_end_result(event: WorkflowEndEvent) -> WorkflowEndSummary:
    """The result and totals of a `WorkflowEnd` event, whichever payload shape it has.

    Servers send `{"value": ..., "total_input_tokens": ..., ...}`; older ones send the
    bare result. A payload is read as the current shape only when it is an object with
    `value` and at least one `total_*` or `task_count` key; otherwise it is the result
    itself and every total is 0 (reference §8.10).

    Args:
        event: A `WorkflowEndEvent`.

    Returns:
        The result (`.value`) and the run's token and cost totals.

    Raises:
        InvalidArgumentError: `event` is not a `WorkflowEndEvent`.
        ResponseValidationError: A current-shape payload has a total of the wrong type.

    Example:
        >>> end = WorkflowEndEvent(payload={"value": "hi", "total_cost_usd": 0.25})
        >>> result = workflow_end_result(end)
        >>> result.value, result.total_cost_usd, result.task_count
        ('hi', 0.25, 0)
        >>> workflow_end_result(WorkflowEndEvent(payload="hi")).value
        'hi'
    """
    if not isinstance(event, models.WorkflowEndEvent):
        raise InvalidArgumentError(
            f"workflow_end_result takes a WorkflowEndEvent, got {type(event).__name__}"
        )
    payload = event.payload
    if isinstance(payload, Mapping) and "value" in payload and not _TOTALS.isdisjoint(payload):
        from controldeck._core._convert import structure  # cattrs on first use, not import

        summary: WorkflowEndSummary = structure(payload, models.WorkflowEndSummary)
        return summary
    return models.WorkflowEndSummary(value=payload)


class EventsClient(ProjectResource):
    """The project's event streams (`client.project(7).events`).

    Streams are open as soon as the method returns; use them in a `with` block. A
    dropped connection is reopened with `Last-Event-ID` (at most 5 attempts in a row,
    jittered backoff, the count restored once a reopened connection delivers data); a
    clean end of the body ends the stream.

    Example:
        >>> with client.project(7).events.event_stream(script_name="triage") as events:
        ...     for event in events:
        ...         print(event.type)
    """

    def event_stream(
        self,
        *,
        script_name: str | None = None,
        idle_timeout: float | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[HubEvent]:
        """The project's hub events as they happen (`GET /events`, SSE).

        Each `batch` message is flattened into its events. A hub event of a type this
        version does not know arrives as an `UnknownHubEvent` (and an engine event as an
        `UnknownEngineEvent`), never as an error. The stream never ends by itself while
        the server keeps it open.

        Args:
            script_name: Only this script's events (`"adhoc"` for ad-hoc runs).
            idle_timeout: Seconds without any bytes (keepalives count) after which the
                stream raises `APITimeoutError`; None (the default) waits as long as the
                server keeps the connection. The read part of `timeout` does not apply to
                the stream, so a quiet hub is not cut off by it.

        Returns:
            The open stream of `ExecutionHubEvent`, `RegistryHubEvent`, `BenchHubEvent`
            and `UnknownHubEvent` values.

        Raises:
            InvalidArgumentError: A bad `script_name` or `idle_timeout`; nothing is sent.
            APIStatusError: The server refused the subscription.
            APIConnectionError: It could not be opened, or it kept dropping.
            APITimeoutError: Nothing arrived for `idle_timeout` seconds (while iterating).
            StreamError: A batch was not a JSON array (while iterating).
            ResponseValidationError: A known event did not have its documented shape.

        Example:
            >>> with client.project(7).events.event_stream() as events:
            ...     for event in events:
            ...         if isinstance(event, ExecutionHubEvent):
            ...             print(event.payload.execution_id, event.payload.event.type)
        """
        params: dict[str, Any] = {"project_id": self.project_id}
        if script_name is not None:
            params["script_name"] = require_str("script_name", script_name)
        feed = _HubFeed(self._client, params, _idle_limit(idle_timeout), options)
        return sse_stream(
            feed.open, Flatten(feed.parse), resume=True, sleep=self._client._transport.sleep
        )

    def execution_stream(
        self,
        script_name: str,
        *,
        idle_timeout: float | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[tuple[str | None, EngineEvent]]:
        """The engine events of every run of one script, as `(execution_id, event)`.

        Runs of the script interleave; the `execution_id` tells them apart (None from
        servers that predate it). Other hub events are skipped. The stream never ends by
        itself: stop on `is_run_end(event)` for the run you follow, or use `watch_run`.

        Args:
            script_name: The script (`"adhoc"` for ad-hoc runs).
            idle_timeout: As for `event_stream`.

        Returns:
            The open stream of `(execution_id, engine event)` pairs.

        Raises:
            InvalidArgumentError: A bad `script_name` or `idle_timeout`; nothing is sent.
            APIStatusError: The server refused the subscription.
            APIConnectionError: It could not be opened, or it kept dropping.

        Example:
            >>> with client.project(7).events.execution_stream("triage") as events:
            ...     for execution_id, event in events:
            ...         print(execution_id, event.type)
        """
        require_str("script_name", script_name)
        hub = self.event_stream(script_name=script_name, idle_timeout=idle_timeout, **options)

        def pairs() -> Iterator[tuple[str | None, EngineEvent]]:
            for event in hub:
                if isinstance(event, models.ExecutionHubEvent):
                    yield event.payload.execution_id, event.payload.event

        return Stream(pairs(), close=hub.close)

    def adhoc_stream(
        self, *, idle_timeout: float | None = None, **options: Unpack[CallOptions]
    ) -> Stream[tuple[str | None, EngineEvent]]:
        """The engine events of ad-hoc runs in this (sandbox) project, as `(execution_id, event)`.

        Same as `execution_stream("adhoc")`. Unlike upstream, the execution id is kept, so
        concurrent ad-hoc runs can be told apart; `run_adhoc_stream` follows one run.

        Args:
            idle_timeout: As for `event_stream`.

        Returns:
            The open stream of `(execution_id, engine event)` pairs; it never ends by itself.

        Raises:
            InvalidArgumentError: A bad `idle_timeout`; nothing is sent.
            APIStatusError: The server refused the subscription.
            APIConnectionError: It could not be opened, or it kept dropping.

        Example:
            >>> sandbox = client.project(client.get_sandbox_project_id())
            >>> with sandbox.events.adhoc_stream() as events:
            ...     for execution_id, event in events:
            ...         print(execution_id, event.type)
        """
        return self.execution_stream(ADHOC_SCRIPT, idle_timeout=idle_timeout, **options)


def watch_run(
    client: AkribesClient,
    project_id: int,
    script_name: str,
    *,
    start: Callable[[], str],
    idle_timeout: float | None = None,
    **options: Unpack[CallOptions],
) -> Stream[EngineEvent]:
    """Start a run and stream its engine events until it ends, without losing the first ones.

    Subscribes to the script's hub events first and waits until the server accepted the
    subscription, then calls `start()`, which posts the run and returns its execution id.
    Events the server sends meanwhile (even before the run's reply) wait in the connection
    and are read once the id is known. Only that execution's events are yielded (upstream
    yields every run's); the stream ends after its `WorkflowEnd` or `Error`.

    Args:
        client: The client to subscribe with.
        project_id: The run's project.
        script_name: The run's script (`"adhoc"` for ad-hoc runs).
        start: Posts the run and returns its execution id; called once.
        idle_timeout: As for `EventsClient.event_stream`.

    Returns:
        The open stream of the run's engine events.

    Raises:
        InvalidArgumentError: A bad argument (nothing is sent), or `start()` returned no id.
        APIStatusError: The server refused the subscription.
        Exception: Whatever `start()` raised; the subscription is closed first.

    Example:
        >>> executions = client.project(7).executions
        >>> with watch_run(
        ...     client, 7, "triage", start=lambda: executions.run("triage").execution_id
        ... ) as events:
        ...     for event in events:
        ...         print(event.type)
    """
    if not callable(start):
        raise InvalidArgumentError(f"start must be a callable, got {type(start).__name__}")
    events = client.project(project_id_of(project_id)).events
    hub = events.event_stream(
        script_name=require_str("script_name", script_name), idle_timeout=idle_timeout, **options
    )
    try:
        execution_id = start()
        if not isinstance(execution_id, str) or not execution_id:
            raise InvalidArgumentError(
                f"start() must return the run's execution id, got {execution_id!r:.40}"
            )
    except BaseException:
        hub.close()
        raise

    def own() -> Iterator[EngineEvent]:
        for event in hub:
            if (
                isinstance(event, models.ExecutionHubEvent)
                and event.payload.execution_id == execution_id
            ):
                yield event.payload.event

    return Stream(own(), close=hub.close, terminal=is_run_end)


def run_adhoc_stream(
    client: AkribesClient,
    source: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    breakpoint_lines: Sequence[int] | None = None,
    channel: str | None = None,
    triggered_by: str | None = None,
    idle_timeout: float | None = None,
    **options: Unpack[CallOptions],
) -> Stream[EngineEvent]:
    """Run source ad hoc in the caller's sandbox project and stream that run's events.

    Implements `AkribesClient.run_adhoc_stream`: looks up the sandbox project, subscribes
    to its ad-hoc events, posts the run (`POST /execute`) and yields the run's engine
    events until its `WorkflowEnd` or `Error`.

    Args:
        client: The client to call with.
        source: Akribes source.
        inputs: Input values by name.
        breakpoint_lines: Source lines to pause at.
        channel: The channel to attribute the run to.
        triggered_by: Who started it (default: the client's `name`).
        idle_timeout: As for `EventsClient.event_stream`.

    Returns:
        The open stream of the run's engine events.

    Raises:
        InvalidArgumentError: A bad argument; nothing is sent.
        InvalidInputsError: The server rejected the inputs (the subscription is closed).

    Example:
        >>> with run_adhoc_stream(client, 'workflow main { log("hi") }') as events:
        ...     for event in events:
        ...         print(event.type)
    """
    require_str("source", source)
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InvalidArgumentError(f"inputs must be a mapping, got {type(inputs).__name__}")
    if breakpoint_lines is not None and (
        isinstance(breakpoint_lines, str | bytes)
        or not isinstance(breakpoint_lines, Sequence)
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in breakpoint_lines)
    ):
        raise InvalidArgumentError(
            f"breakpoint_lines must be a sequence of ints, got {breakpoint_lines!r:.40}"
        )
    for name, value in (("channel", channel), ("triggered_by", triggered_by)):
        if value is not None:
            require_str(name, value)
    _idle_limit(idle_timeout)
    sandbox = client.get_sandbox_project_id(**options)

    def start() -> str:
        run = client.run_adhoc(
            source,
            inputs=inputs,
            breakpoint_lines=breakpoint_lines,
            channel=channel,
            triggered_by=triggered_by,
            **options,
        )
        return run.execution_id

    return watch_run(
        client, sandbox, ADHOC_SCRIPT, start=start, idle_timeout=idle_timeout, **options
    )
