"""Executions by id (`client.executions`): status, output, events, cancel, resume, waiting.

Also upstream's document getters by id, and `await_execution`, which polls an execution's
output with the engine's `wait_for`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import urljoin

from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions, PollOptions, poll_call_options
from controldeck._core._validate import require_str
from controldeck._core._wait import wait_for
from controldeck.akribes._base import Resource, project_id_of, segment
from controldeck.akribes._errors import ExecutionFailedError
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        DocumentMeta,
        EngineEvent,
        ExecutionChildSummary,
        ExecutionEvents,
        ExecutionOutput,
        ExecutionStatus,
        ExecutionTasksResponse,
        RerunResult,
        RunResult,
    )
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["ExecutionsClient"]

# Statuses that end a wait (reference §3): the first two return, the others raise.
_DONE = frozenset({"completed", "suspended"})
_FAILED = frozenset({"failed", "cancelled"})


def _id(name: str, value: Any) -> str:
    """An id for the path: a non-empty string, percent-encoded as one segment."""
    return segment(name, require_str(name, value))


def _cursor(value: Any) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidArgumentError(f"after_id must be an int cursor, got {value!r:.40}")
    return value


def _limit(value: Any) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidArgumentError(f"limit must be an int >= 1, got {value!r:.40}")
    return value


def _types(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return require_str("types", value)
    if not isinstance(value, Sequence) or not value:
        raise InvalidArgumentError("types must be an event type or a non-empty list of them")
    return ",".join(require_str(f"types[{i}]", t) for i, t in enumerate(value))


class ExecutionsClient(Resource):
    """Executions by id: status, output, events, cancel, resume, waiting; documents by id.

    Example:
        >>> output = client.executions.await_execution("abc-456", timeout=600)
        >>> output.result
    """

    def get(self, execution_id: str, **options: Unpack[CallOptions]) -> ExecutionStatus | None:
        """An execution's status, result, usage and cost.

        Args:
            execution_id: The execution.

        Returns:
            The execution, or None when the server does not know it (404).

        Raises:
            InvalidArgumentError: `execution_id` is empty.

        Example:
            >>> client.executions.get("abc-456").status
            'completed'
        """
        eid = _id("execution_id", execution_id)
        return self._client._get_or_none(f"/executions/{eid}", models.ExecutionStatus, **options)

    def get_output(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> ExecutionOutput | None:
        """An execution's status with its result or error (what waiting polls).

        Args:
            execution_id: The execution.

        Returns:
            The output, or None on 404 (not known, or not written yet right after a run).

        Raises:
            InvalidArgumentError: `execution_id` is empty.

        Example:
            >>> client.executions.get_output("abc-456").result
            {'answer': 42}
        """
        eid = _id("execution_id", execution_id)
        return self._client._get_or_none(
            f"/executions/{eid}/output", models.ExecutionOutput, **options
        )

    def get_events(
        self,
        execution_id: str,
        *,
        after_id: int | None = None,
        limit: int | None = None,
        types: str | Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> ExecutionEvents | None:
        """One page of an execution's stored engine events.

        Args:
            execution_id: The execution.
            after_id: Only events after this cursor (`next_after_id` of the previous page).
            limit: Events per page (the server's default when None).
            types: Only these event types, e.g. `["TaskEnd", "WorkflowEnd"]` (sent
                comma-separated).

        Returns:
            The page (`events`, `next_after_id`, `has_more`), or None on 404.

        Raises:
            InvalidArgumentError: A bad id, cursor, limit or type list.

        Example:
            >>> page = client.executions.get_events("abc-456", types=["TaskEnd"])
            >>> [event.type for event in page.events]
            ['TaskEnd']
        """
        eid = _id("execution_id", execution_id)
        params = {
            "after_id": _cursor(after_id),
            "limit": _limit(limit),
            "types": _types(types),
        }
        return self._client._get_or_none(
            f"/executions/{eid}/events", models.ExecutionEvents, params=params, **options
        )

    def iter_events(
        self,
        execution_id: str,
        *,
        after_id: int | None = None,
        types: str | Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Iterator[EngineEvent]:
        """Every stored event of an execution, fetching pages lazily by cursor.

        Follows `next_after_id` while the server says `has_more`; an unknown execution
        yields nothing.

        Args:
            execution_id: The execution.
            after_id: Start after this cursor.
            types: Only these event types.

        Returns:
            An iterator of engine events, oldest first.

        Raises:
            InvalidArgumentError: A bad id, cursor or type list (raised at once).

        Example:
            >>> for event in client.executions.iter_events("abc-456"):
            ...     print(event.type)
        """
        eid = _id("execution_id", execution_id)
        params: dict[str, Any] = {"after_id": _cursor(after_id), "types": _types(types)}
        path = f"/executions/{eid}/events"

        def fetch(cursor: int | None) -> ExecutionEvents | None:
            return self._client._get_or_none(
                path, models.ExecutionEvents, params={**params, "after_id": cursor}, **options
            )

        def pages() -> Iterator[EngineEvent]:
            cursor = params["after_id"]
            while (page := fetch(cursor)) is not None:
                yield from page.events
                # A server that claims more without a cursor (or repeats it) would loop forever.
                if not page.has_more or page.next_after_id in (None, cursor):
                    return
                cursor = page.next_after_id

        return pages()

    def tasks(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> ExecutionTasksResponse | None:
        """Per-task token usage, cost and duration of an execution.

        Args:
            execution_id: The execution.

        Returns:
            The tasks, or None on 404.

        Raises:
            InvalidArgumentError: `execution_id` is empty.

        Example:
            >>> [t.task_name for t in client.executions.tasks("abc-456").tasks]
            ['classify']
        """
        eid = _id("execution_id", execution_id)
        return self._client._get_or_none(
            f"/executions/{eid}/tasks", models.ExecutionTasksResponse, **options
        )

    def children(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> list[ExecutionChildSummary]:
        """The sub-script executions this execution spawned.

        Args:
            execution_id: The execution.

        Returns:
            The children; empty on 404.

        Raises:
            InvalidArgumentError: `execution_id` is empty.

        Example:
            >>> [c.script_name for c in client.executions.children("abc-456")]
            ['summarise']
        """
        eid = _id("execution_id", execution_id)
        items: Any = list[models.ExecutionChildSummary]  # a runtime alias, decoded per item
        try:
            found: list[ExecutionChildSummary] = self._client._get(
                f"/executions/{eid}/children", items, **options
            )
        except NotFoundError:
            return []
        return found

    def cancel(self, execution_id: str, **options: Unpack[CallOptions]) -> bool:
        """Cancel an execution.

        Args:
            execution_id: The execution.

        Returns:
            True when the server accepted, False when it does not know the execution (404).

        Raises:
            InvalidArgumentError: `execution_id` is empty.

        Example:
            >>> client.executions.cancel("abc-456")
            True
        """
        eid = _id("execution_id", execution_id)
        return self._client._delete_found(f"/executions/{eid}", **options)

    def resume(
        self, execution_id: str, token: str, data: Any, **options: Unpack[CallOptions]
    ) -> Any:
        """Answer a suspended execution's checkpoint so it carries on.

        Args:
            execution_id: The suspended execution.
            token: The `token` of its `Suspended` event (a secret: masked in logs and errors).
            data: The answer, matching the checkpoint's schema (any JSON value).

        Returns:
            The server's reply, decoded JSON (None when empty).

        Raises:
            InvalidArgumentError: An empty id or token.
            NotFoundError: No such execution.

        Example:
            >>> client.executions.resume("abc-456", suspended.token, {"approved": True})
        """
        eid = _id("execution_id", execution_id)
        body = models.ResumeRequest(token=require_str("token", token), data=data)
        return self._client._transport.request(
            "POST", f"/executions/{eid}/resume", json=body, secrets=(token,), **options
        )

    def rerun(self, execution_id: str, **options: Unpack[CallOptions]) -> RerunResult:
        """Run an execution again with its original inputs.

        Args:
            execution_id: The execution to re-run.

        Returns:
            The new `execution_id` and `rerun_of`.

        Raises:
            InvalidArgumentError: `execution_id` is empty.
            NotFoundError: No such execution.
            UnprocessableEntityError: Documents the original run used were purged.

        Example:
            >>> client.executions.rerun("abc-456").execution_id
            'def-789'
        """
        eid = _id("execution_id", execution_id)
        return self._client._post(f"/executions/{eid}/rerun", models.RerunResult, **options)

    def get_document(self, document_id: str, **options: Unpack[CallOptions]) -> DocumentMeta | None:
        """A stored document's metadata.

        Args:
            document_id: The document.

        Returns:
            The metadata, or None on 404.

        Raises:
            InvalidArgumentError: `document_id` is empty.

        Example:
            >>> client.executions.get_document("doc_0f8e").conversion_status
            <ConversionStatus.READY: 'ready'>
        """
        did = _id("document_id", document_id)
        return self._client._get_or_none(f"/documents/{did}", models.DocumentMeta, **options)

    def get_document_markdown(self, document_id: str, **options: Unpack[CallOptions]) -> str:
        """A converted document's markdown.

        Args:
            document_id: The document.

        Returns:
            The markdown text.

        Raises:
            InvalidArgumentError: `document_id` is empty.
            NotFoundError: No such document (or not converted).

        Example:
            >>> client.executions.get_document_markdown("doc_0f8e")[:7]
            '# Title'
        """
        did = _id("document_id", document_id)
        reply = self._client._get(f"/documents/{did}/markdown", models.DocumentMarkdown, **options)
        return reply.markdown

    def get_document_url(self, document_id: str, **options: Unpack[CallOptions]) -> str:
        """Where a document's bytes can be downloaded (e.g. a presigned storage URL).

        The server answers with a redirect to storage; its `Location` is returned without
        fetching it (the storage host never sees a request, let alone credentials).

        Args:
            document_id: The document.

        Returns:
            The URL the server redirects to (or this endpoint's URL when it serves the
            bytes itself).

        Raises:
            InvalidArgumentError: `document_id` is empty.
            NotFoundError: No such document.

        Example:
            >>> client.executions.get_document_url("doc_0f8e")
            'https://bucket.s3.amazonaws.com/doc_0f8e?X-Amz-Signature=...'
        """
        did = _id("document_id", document_id)
        headers = {"Accept": "*/*", **options.pop("extra_headers", {})}
        response = self._client._transport.send(
            "GET",
            f"/documents/{did}/content",
            extra_headers=headers,
            follow_redirects=False,
            **options,
        )
        response.close()
        location = response.headers.get("Location")
        return urljoin(str(response.url), location) if location else str(response.url)

    def reconvert_document(self, document_id: str, **options: Unpack[CallOptions]) -> Any:
        """Convert a stored document again.

        Args:
            document_id: The document.

        Returns:
            The server's reply, decoded JSON (e.g. `{"status": "ready"}`).

        Raises:
            InvalidArgumentError: `document_id` is empty.
            NotFoundError: No such document.
            DocumentConversionError: The conversion failed (`.reason`).

        Example:
            >>> client.executions.reconvert_document("doc_0f8e")
            {'status': 'ready'}
        """
        did = _id("document_id", document_id)
        return self._client._transport.request(
            "POST", f"/documents/{did}/convert", json=models.EmptyBody(), **options
        )

    def run_from_node(
        self,
        project_id: int,
        script_name: str,
        seed_env: Mapping[str, Any],
        skip_node_ids: Sequence[int],
        *,
        channel: str = "draft",
        inputs: Mapping[str, Any] | None = None,
        triggered_by: str | None = None,
        **options: Unpack[CallOptions],
    ) -> RunResult:
        """Run a script of a project again from a point of its graph (upstream's name).

        Same as `client.project(project_id).executions.run_from(...)`.

        Args:
            project_id: The project.
            script_name: The script.
            seed_env: Variables to start from.
            skip_node_ids: Graph nodes not to run again.
            channel: The channel whose version runs (default `draft`).
            inputs: Input values by name.
            triggered_by: Who started it (default: the client's `name`).

        Returns:
            The `execution_id`.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such project or script.

        Example:
            >>> client.executions.run_from_node(7, "triage", {"x": 1}, [0, 1]).execution_id
        """
        from controldeck.akribes._executions import ScopedExecutionsClient

        scoped = ScopedExecutionsClient(self._client, project_id_of(project_id))
        return scoped.run_from(
            script_name,
            seed_env,
            skip_node_ids,
            channel=channel,
            inputs=inputs,
            triggered_by=triggered_by,
            **options,
        )

    def await_execution(
        self,
        execution_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        progress: bool | None = None,
        **options: Unpack[PollOptions],
    ) -> ExecutionOutput:
        """Poll an execution's output until it completes or suspends.

        A 404 right after a run means the output is not written yet and is polled again.
        The interval grows gently from `poll_interval` (capped at 30 s).

        Args:
            execution_id: The execution.
            timeout: Seconds to wait in all; None (the default, as upstream) waits until the
                execution ends or Ctrl-C.
            poll_interval: Seconds between the first checks.
            progress: Show a progress bar: None shows one only on an interactive terminal
                or notebook.
            options: `request_timeout=`, `max_retries=`, `extra_headers=` for each poll.

        Returns:
            The output of a `completed` (or `suspended`) execution.

        Raises:
            InvalidArgumentError: A bad id, timeout or interval; nothing was sent.
            ExecutionFailedError: It ended `failed` or `cancelled` (`.error_kind`,
                `.transient` say whether running again may help).
            WaitTimeoutError: `timeout` passed first (`.last_state` is the last output).

        Example:
            >>> client.executions.await_execution("abc-456", timeout=600).result
            {'answer': 42}
        """
        raw_id = require_str("execution_id", execution_id)
        path = f"/executions/{segment('execution_id', raw_id)}/output"
        call = poll_call_options(options)
        transport = self._client._transport

        def is_done(output: ExecutionOutput) -> bool:
            if output.status in _FAILED:
                raise ExecutionFailedError(
                    raw_id, output.status, error_kind=output.error_kind, error=output.error
                )
            return output.status in _DONE

        return wait_for(
            lambda: self._client._get(path, models.ExecutionOutput, **call),
            is_done,
            timeout=timeout,
            poll_interval=poll_interval,
            what=f"execution {raw_id}",
            describe=lambda output: output.status,
            not_yet=NotFoundError,
            progress=progress,
            # The transport's clock and sleep: one seam for tests, shared with retries.
            clock=transport.clock,
            sleep=transport.sleep,
        )
