"""`AkribesClient`: the Akribes workflow server (openapi/akribes.yaml)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

import requests

from controldeck._core import _constants as C
from controldeck._core._auth import BearerAuth
from controldeck._core._client import BaseClient, from_env
from controldeck._core._describe import origin_of
from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions, Timeout
from controldeck._core._validate import require_str
from controldeck.akribes._errors import parse_akribes_error
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._core._streams import Stream
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import AdhocRunResult, EngineEvent, HubEvent, State
    from controldeck.akribes._bench import BenchRunsClient
    from controldeck.akribes._convert import ConvertClient
    from controldeck.akribes._executions import ExecutionsClient
    from controldeck.akribes._organizations import OrganizationClient
    from controldeck.akribes._projects import ProjectsClient
    from controldeck.akribes._scope import ProjectScope
    from controldeck.akribes._tokens import TokensClient
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["AkribesClient"]

BASE_URL_ENV = "AKRIBES_BASE_URL"
TOKEN_ENVS = ("AKRIBES_TOKEN", "AKRIBES_SERVICE_TOKEN")
INGEST_TIMEOUT_ENV = "AKRIBES_SDK_INGEST_TIMEOUT_SECS"
DEFAULT_INGEST_TIMEOUT = 300.0
USER_HEADER = "X-Akribes-User"


class AkribesAuth(BearerAuth):
    """`Authorization: Bearer <token>` when a token is set (upstream sends none without one)
    and `X-Akribes-User: <email>` when acting on behalf of someone."""

    def __init__(self, token: str | None, on_behalf_of: str | None) -> None:
        super().__init__(token)
        self.on_behalf_of = on_behalf_of

    def auth_headers(self) -> Mapping[str, str]:
        headers = dict(super().auth_headers()) if self.token is not None else {}
        if self.on_behalf_of:
            headers[USER_HEADER] = self.on_behalf_of
        return headers


def _ingest_timeout(value: float | None) -> float:
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidArgumentError(
                f"ingest_poll_timeout must be positive seconds, got {value!r}"
            )
        return float(value)
    raw = os.environ.get(INGEST_TIMEOUT_ENV, "").strip()
    # Upstream ignores 0 and anything unparseable (R/client.rs:67-74).
    return float(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_INGEST_TIMEOUT


class AkribesClient(BaseClient):
    """Client for an Akribes server.

    The base URL is used as given (no prefix is added). Safe to share between threads.
    Every method also takes `timeout=`, `deadline=`, `max_retries=` and `extra_headers=`
    for that one call. Getters return None on 404, lists an empty list, deletes False, as
    the upstream SDKs do.

    Args:
        base_url: The server's URL. Defaults to `AKRIBES_BASE_URL`.
        token: A service token or a scoped `akribes_tk_...` token. Defaults to
            `AKRIBES_TOKEN`, then `AKRIBES_SERVICE_TOKEN`. Without one, no Authorization
            header is sent.
        project_id: The project `scoped()` works on.
        on_behalf_of: An email sent as `X-Akribes-User` on every request (advisory).
        name: This client's name: registered clients' name and runs' default `triggered_by`.
        client_id: This client's id for registered clients (default: a random UUID).
        timeout: Seconds, or (connect, read) seconds, per attempt. Default (5, 60).
        deadline: Seconds any one call may take across its retries. Default: no limit.
        max_retries: Retries for failures that are safe to retry. Default 2.
        ingest_poll_timeout: Seconds `documents.ingest` waits for a conversion. Defaults to
            `AKRIBES_SDK_INGEST_TIMEOUT_SECS`, else 300.
        session: A `requests.Session` to use (proxies, TLS settings) instead of our own.
        user_agent: Replaces `controldeck/<version> python/<x.y> akribes`.

    Raises:
        InvalidArgumentError: No base URL, or a bad argument.

    Example:
        >>> with AkribesClient("http://akribes.example", token="akribes_tk_...") as client:
        ...     scope = client.project(7)
        ...     run = scope.executions.run("triage", inputs={"ticket": "T-1"})
    """

    _platform = "akribes"

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        project_id: int | None = None,
        on_behalf_of: str | None = None,
        name: str = "controldeck",
        client_id: str | None = None,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        ingest_poll_timeout: float | None = None,
        session: requests.Session | None = None,
        user_agent: str | None = None,
    ) -> None:
        resolved = from_env(base_url, BASE_URL_ENV)
        if resolved is None:
            raise InvalidArgumentError(
                f"No Akribes base URL: pass base_url= or set {BASE_URL_ENV} "
                "(the server's URL, with any mount prefix, e.g. http://akribes.example)"
            )
        if origin_of(resolved.strip()) is None:
            raise InvalidArgumentError(
                f"base_url must be an http(s) URL, got {resolved[: C.MAX_ECHO]!r}"
            )
        for env in TOKEN_ENVS:
            token = from_env(token, env)
        if on_behalf_of is not None:
            require_str("on_behalf_of", on_behalf_of)
        self.project_id = project_id
        self.name = require_str("name", name)
        self.client_id = require_str("client_id", client_id) if client_id else str(uuid.uuid4())
        self.ingest_poll_timeout = _ingest_timeout(ingest_poll_timeout)
        self._auth = AkribesAuth(token, on_behalf_of)
        self._stoppers: list[Callable[[], None]] = []
        self._stoppers_lock = threading.Lock()
        super().__init__(
            base_url=resolved.strip(),
            copy_args={
                "base_url": base_url,
                "token": token,
                "project_id": project_id,
                "on_behalf_of": on_behalf_of,
                "name": name,
                "client_id": client_id,
                "timeout": timeout,
                "deadline": deadline,
                "max_retries": max_retries,
                "ingest_poll_timeout": ingest_poll_timeout,
                "session": session,
                "user_agent": user_agent,
            },
            auth=self._auth,
            secret_keys=models.SECRET_FIELDS - {"value"},  # `value` is every event's payload
            error_parser=parse_akribes_error,
            idempotency_header="Idempotency-Key",
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
        )
        if project_id is not None:
            from controldeck.akribes._base import project_id_of

            project_id_of(project_id)

    # -- credentials ----------------------------------------------------------------------

    def set_token(self, token: str | None) -> None:
        """Use another token from the next request on (None: send no Authorization).

        Example:
            >>> client.set_token(minted.token)
        """
        self._auth.token = token

    def set_on_behalf_of(self, email: str | None) -> None:
        """Send `X-Akribes-User: <email>` on every request from now on (None: stop).

        Example:
            >>> client.set_on_behalf_of("alice@acme.com")
        """
        if email is not None:
            require_str("email", email)
        self._auth.on_behalf_of = email

    # -- lifetime --------------------------------------------------------------------------

    def _on_close(self, stop: Callable[[], None]) -> Callable[[], None]:
        """Run `stop` when the client closes (heartbeat threads); returns an unregister."""
        with self._stoppers_lock:
            self._stoppers.append(stop)

        def forget() -> None:
            with self._stoppers_lock:
                if stop in self._stoppers:
                    self._stoppers.remove(stop)

        return forget

    def close(self) -> None:
        """Stop every heartbeat this client started and close its sessions. Safe twice."""
        with self._stoppers_lock:
            stoppers, self._stoppers = self._stoppers, []
        for stop in stoppers:
            stop()
        super().close()

    # -- sub-clients -----------------------------------------------------------------------

    def project(self, project_id: int) -> ProjectScope:
        """The methods of one project.

        Example:
            >>> scope = client.project(7)
            >>> [s.name for s in scope.scripts.list()]
        """
        from controldeck.akribes._scope import ProjectScope

        return ProjectScope(self, project_id)

    def scoped(self) -> ProjectScope:
        """`project(project_id)` for the client's own `project_id`.

        Raises:
            InvalidArgumentError: The client has no `project_id`.

        Example:
            >>> AkribesClient(url, project_id=7).scoped().scripts.list()
        """
        if self.project_id is None:
            raise InvalidArgumentError(
                "scoped() needs a project: pass project_id= to AkribesClient"
            )
        return self.project(self.project_id)

    @property
    def projects(self) -> ProjectsClient:
        """Projects (`list`, `get`, `create`...)."""
        from controldeck.akribes._projects import ProjectsClient

        return ProjectsClient(self)

    @property
    def tokens(self) -> TokensClient:
        """Scoped tokens (`mint`, `list`, `revoke`, `revoke_by_email`)."""
        from controldeck.akribes._tokens import TokensClient

        return TokensClient(self)

    @property
    def convert(self) -> ConvertClient:
        """Document conversion to markdown."""
        from controldeck.akribes._convert import ConvertClient

        return ConvertClient(self)

    @property
    def executions(self) -> ExecutionsClient:
        """Executions by id (`get`, `get_output`, `await_execution`...)."""
        from controldeck.akribes._executions import ExecutionsClient

        return ExecutionsClient(self)

    @property
    def bench_runs(self) -> BenchRunsClient:
        """Bench runs and cases by id."""
        from controldeck.akribes._bench import BenchRunsClient

        return BenchRunsClient(self)

    def organization(self, org_id: int) -> OrganizationClient:
        """An organization's configuration: MCP configs, secrets, model policy, spend, usage.

        Example:
            >>> client.organization(3).get_spend_cap().spent_usd
        """
        from controldeck.akribes._organizations import OrganizationClient

        return OrganizationClient(self, org_id)

    # -- root calls ------------------------------------------------------------------------

    def get_state(self, **options: Unpack[CallOptions]) -> State:
        """The server's state (`GET /state`); an empty state when the server has none (404).

        Example:
            >>> client.get_state().env
            {'AKRIBES_ENV': 'dev'}
        """
        found = self._get_or_none("/state", models.State, **options)
        return found if found is not None else models.State()

    def get_sandbox_project_id(self, **options: Unpack[CallOptions]) -> int:
        """The id of the caller's sandbox project (`GET /me/sandbox`).

        Example:
            >>> client.get_sandbox_project_id()
            42
        """
        return self._get("/me/sandbox", models.SandboxProject, **options).project_id

    def run_adhoc(
        self,
        source: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        breakpoint_lines: Sequence[int] | None = None,
        channel: str | None = None,
        triggered_by: str | None = None,
        **options: Unpack[CallOptions],
    ) -> AdhocRunResult:
        """Run workflow source without saving it (in the caller's sandbox project).

        Args:
            source: Akribes source.
            inputs: Input values by name.
            breakpoint_lines: Source lines to pause at.
            channel: The channel to attribute the run to.
            triggered_by: Who started it (default: the client's `name`).

        Returns:
            `execution_id` and the sandbox `project_id`.

        Raises:
            InvalidInputsError: The server rejected the inputs (`.input_errors`).

        Example:
            >>> run = client.run_adhoc('workflow main { log("hi") }')
            >>> client.executions.await_execution(run.execution_id).status
            'completed'
        """
        require_str("source", source)
        who = self.name if triggered_by is None else require_str("triggered_by", triggered_by)
        body = models.AdhocRunRequest(
            source=source,
            inputs=UNSET if inputs is None else dict(inputs),
            breakpoint_lines=UNSET if breakpoint_lines is None else list(breakpoint_lines),
            channel=UNSET if channel is None else require_str("channel", channel),
            triggered_by=who,
        )
        return self._post("/execute", models.AdhocRunResult, json=body, **options)

    # -- event streams (implemented in _events) -------------------------------------------

    def events(
        self, project_id: int, *, script_name: str | None = None, **options: Unpack[CallOptions]
    ) -> Stream[HubEvent]:
        """The project's hub event stream (SSE), resumed with `Last-Event-ID` on drops.

        Same as `client.project(project_id).events.event_stream(script_name=...)`.

        Example:
            >>> with client.events(7, script_name="triage") as events:
            ...     for event in events:
            ...         print(event.type)
        """
        return self.project(project_id).events.event_stream(script_name=script_name, **options)

    def adhoc_event_stream(
        self, project_id: int, **options: Unpack[CallOptions]
    ) -> Stream[tuple[str | None, EngineEvent]]:
        """Engine events of ad-hoc runs in a (sandbox) project, as `(execution_id, event)`.

        Example:
            >>> with client.adhoc_event_stream(client.get_sandbox_project_id()) as events:
            ...     for execution_id, event in events:
            ...         print(execution_id, event.type)
        """
        return self.project(project_id).events.adhoc_stream(**options)

    def run_adhoc_stream(
        self,
        source: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        breakpoint_lines: Sequence[int] | None = None,
        channel: str | None = None,
        triggered_by: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[EngineEvent]:
        """Run source ad hoc and stream that run's engine events until it ends.

        The stream is attached before the run is posted, so no event is lost; it ends after
        `WorkflowEnd` or `Error` of this execution.

        Example:
            >>> with client.run_adhoc_stream('workflow main { log("hi") }') as events:
            ...     for event in events:
            ...         print(event.type)
        """
        from controldeck.akribes._events import run_adhoc_stream

        return run_adhoc_stream(
            self,
            source,
            inputs=inputs,
            breakpoint_lines=breakpoint_lines,
            channel=channel,
            triggered_by=triggered_by,
            **options,
        )

    # -- generic JSON helpers (as upstream has) ---------------------------------------------

    def _own_url(self, url: str) -> str:
        require_str("url", url)
        if "://" in url and origin_of(url) != origin_of(self.base_url):
            # The token would go to a host the caller did not configure.
            raise InvalidArgumentError(
                f"{url[: C.MAX_ECHO]!r} is not on this client's server; pass a path or a URL "
                "under base_url"
            )
        return url

    def get_json_value(self, url: str, **options: Unpack[CallOptions]) -> Any:
        """GET any path (or URL on this server) and return its decoded JSON.

        Raises:
            InvalidArgumentError: An absolute URL on another host (the token never leaves).
            NotFoundError: The server answered 404.

        Example:
            >>> client.get_json_value("/projects/7/scripts")[0]["name"]
        """
        return self._transport.request("GET", self._own_url(url), **options)

    def get_json_value_opt(self, url: str, **options: Unpack[CallOptions]) -> Any | None:
        """Like `get_json_value`, but None on 404.

        Example:
            >>> client.get_json_value_opt("/benches/999") is None
            True
        """
        from controldeck.errors import NotFoundError

        try:
            return self.get_json_value(url, **options)
        except NotFoundError:
            return None

    def post_json_value(self, url: str, body: Any, **options: Unpack[CallOptions]) -> Any:
        """POST a JSON body to any path on this server; the decoded reply (None when empty).

        Example:
            >>> client.post_json_value("/executions/abc/convert", {})
        """
        return self._transport.request("POST", self._own_url(url), json=body, **options)
