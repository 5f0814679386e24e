"""`AkribesClient` itself: construction, credentials, root calls, generic JSON, errors."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from controldeck._generated.akribes import State
from controldeck.akribes import (
    AkribesClient,
    DocumentConversionError,
    DuplicateSuiteError,
    InvalidInputsError,
    ProjectScope,
)
from controldeck.akribes._errors import parse_akribes_error
from controldeck.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ControlDeckError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
)
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID, TOKEN

SANDBOX = 42
ADHOC = {"execution_id": "exec-1", "project_id": SANDBOX}
PROJECT = {"id": PID, "name": "support", "created_at": "2026-01-05T10:00:00Z"}


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    return request


# --- construction -----------------------------------------------------------------------------


def test_base_url_and_token_from_the_environment(
    api: ConformanceMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKRIBES_BASE_URL", f" {BASE_URL} ")
    monkeypatch.setenv("AKRIBES_TOKEN", "from-akribes-token")
    monkeypatch.setenv("AKRIBES_SERVICE_TOKEN", "from-service-token")
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    with AkribesClient() as client:
        assert client.base_url == BASE_URL
        assert client.get_sandbox_project_id() == SANDBOX
    assert only_request(api).headers["Authorization"] == "Bearer from-akribes-token"


def test_service_token_variable_is_the_fallback(
    api: ConformanceMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKRIBES_SERVICE_TOKEN", "from-service-token")
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    with AkribesClient(BASE_URL) as client:
        client.get_sandbox_project_id()
    assert only_request(api).headers["Authorization"] == "Bearer from-service-token"


def test_an_explicit_token_wins_over_the_environment(
    api: ConformanceMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKRIBES_TOKEN", "from-env")
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    with AkribesClient(BASE_URL, token=TOKEN) as client:
        client.get_sandbox_project_id()
    assert only_request(api).headers["Authorization"] == AUTH


def test_no_authorization_without_a_token(api: ConformanceMock) -> None:
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    with AkribesClient(BASE_URL) as client:
        assert client.get_sandbox_project_id() == SANDBOX
    request = only_request(api)
    assert "Authorization" not in request.headers
    assert "X-Akribes-User" not in request.headers


def test_missing_base_url() -> None:
    with pytest.raises(InvalidArgumentError, match="AKRIBES_BASE_URL"):
        AkribesClient(token=TOKEN)


@pytest.mark.parametrize("url", ["akribes.example", "ftp://akribes.example", ""])
def test_base_url_must_be_http(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        AkribesClient(url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project_id": "7"},
        {"project_id": -1},
        {"name": ""},
        {"client_id": " "},
        {"on_behalf_of": ""},
        {"ingest_poll_timeout": 0},
        {"ingest_poll_timeout": -5.0},
        {"ingest_poll_timeout": True},
        {"ingest_poll_timeout": "300"},
        {"timeout": -1},
        {"max_retries": -1},
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        AkribesClient(BASE_URL, **kwargs)


@pytest.mark.parametrize(
    ("env", "expected"),
    [(None, 300.0), ("45", 45.0), ("0", 300.0), ("abc", 300.0), ("-3", 300.0), ("1.5", 300.0)],
)
def test_ingest_timeout_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str | None, expected: float
) -> None:
    if env is not None:
        monkeypatch.setenv("AKRIBES_SDK_INGEST_TIMEOUT_SECS", env)
    with AkribesClient(BASE_URL) as client:
        assert client.ingest_poll_timeout == expected
    with AkribesClient(BASE_URL, ingest_poll_timeout=12) as client:
        assert client.ingest_poll_timeout == 12.0  # the argument wins


def test_defaults() -> None:
    with AkribesClient(BASE_URL, client_id="c-1") as client:
        assert (client.name, client.client_id, client.project_id) == ("controldeck", "c-1", None)
    with AkribesClient(BASE_URL) as a, AkribesClient(BASE_URL) as b:
        assert a.client_id != b.client_id  # a random UUID each


def test_repr_never_shows_the_token(client: AkribesClient) -> None:
    assert repr(client) == f"AkribesClient(base_url={BASE_URL!r})"
    assert TOKEN not in repr(client) and TOKEN not in str(client)
    assert repr(client.projects) == f"<ProjectsClient of {client!r}>"


# --- credentials ------------------------------------------------------------------------------


def test_set_token(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    client.set_token("akribes_tk_other")
    client.get_sandbox_project_id()
    client.set_token(None)
    client.get_sandbox_project_id()
    first, second = (c.request for c in api.calls)
    assert first.headers["Authorization"] == "Bearer akribes_tk_other"
    assert "Authorization" not in second.headers


def test_set_on_behalf_of_goes_on_every_request(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    api.get(f"{BASE_URL}/projects/{PID}", json=PROJECT)
    api.post(f"{BASE_URL}/execute", json=ADHOC)
    client.set_on_behalf_of("alice@acme.com")
    client.get_sandbox_project_id()
    client.projects.get(PID)
    client.run_adhoc("workflow main {}")
    client.set_on_behalf_of(None)
    client.get_sandbox_project_id()
    users = [c.request.headers.get("X-Akribes-User") for c in api.calls]
    assert users == ["alice@acme.com"] * 3 + [None]
    assert all(c.request.headers["Authorization"] == AUTH for c in api.calls)


def test_on_behalf_of_from_the_constructor(api: ConformanceMock) -> None:
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    with AkribesClient(BASE_URL, token=TOKEN, on_behalf_of="bob@acme.com") as client:
        client.get_sandbox_project_id()
    assert only_request(api).headers["X-Akribes-User"] == "bob@acme.com"
    assert "X-Aura-User" not in only_request(api).headers


@pytest.mark.parametrize("email", ["", 7])
def test_set_on_behalf_of_rejects_bad_emails(client: AkribesClient, email: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        client.set_on_behalf_of(email)


# --- scopes and copies ------------------------------------------------------------------------


def test_project_and_scoped(client: AkribesClient) -> None:
    scope = client.project(PID)
    assert isinstance(scope, ProjectScope)
    assert scope.project_id == PID and scope.client is client
    assert scope.scripts.project_id == PID
    with pytest.raises(InvalidArgumentError, match="project_id"):
        client.scoped()
    with pytest.raises(InvalidArgumentError):
        client.project("7")
    with AkribesClient(BASE_URL, project_id=PID) as scoped_client:
        assert scoped_client.scoped().project_id == PID


def test_copy_keeps_the_settings(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    with client.copy(on_behalf_of="carol@acme.com") as other:
        assert other is not client
        assert other.name == "tests"
        other.get_sandbox_project_id()
    request = only_request(api)
    assert request.headers["Authorization"] == AUTH
    assert request.headers["X-Akribes-User"] == "carol@acme.com"
    with pytest.raises(InvalidArgumentError, match="colour"):
        client.copy(colour="blue")


def test_a_closed_client_refuses_calls(api: ConformanceMock) -> None:
    client = AkribesClient(BASE_URL, token=TOKEN)
    client.close()
    client.close()  # safe twice
    with pytest.raises(ControlDeckError):
        client.get_sandbox_project_id()
    assert len(api.calls) == 0


# --- root calls -------------------------------------------------------------------------------


def test_get_state(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/state", json={"env": {"AKRIBES_ENV": "dev"}})
    state = client.get_state()
    request = only_request(api)
    assert (request.method, request.url) == ("GET", f"{BASE_URL}/state")
    assert request.headers["Authorization"] == AUTH
    assert state.env == {"AKRIBES_ENV": "dev"}


def test_get_state_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/state", status=404, json={"error": "no state"})
    state = client.get_state()
    assert state == State()
    assert state.env is None


def test_get_sandbox_project_id(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    assert client.get_sandbox_project_id() == SANDBOX
    request = only_request(api)
    assert (request.method, request.url) == ("GET", f"{BASE_URL}/me/sandbox")


def test_run_adhoc_defaults_triggered_by_to_the_client_name(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{BASE_URL}/execute", json=ADHOC)
    run = client.run_adhoc('workflow main { log("hi") }')
    request = only_request(api)
    assert (request.method, request.url) == ("POST", f"{BASE_URL}/execute")
    assert request.headers["Authorization"] == AUTH
    assert request.body is not None
    assert json.loads(request.body) == {
        "source": 'workflow main { log("hi") }',
        "triggered_by": "tests",
    }
    assert (run.execution_id, run.project_id) == ("exec-1", SANDBOX)


def test_run_adhoc_with_everything(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/execute", json=ADHOC)
    client.run_adhoc(
        "workflow main {}",
        inputs={"ticket": "T-1", "n": 3},
        breakpoint_lines=(2, 5),
        channel="production",
        triggered_by="studio",
    )
    request = only_request(api)
    assert request.body is not None
    assert json.loads(request.body) == {
        "source": "workflow main {}",
        "inputs": {"ticket": "T-1", "n": 3},
        "breakpoint_lines": [2, 5],
        "channel": "production",
        "triggered_by": "studio",
    }


@pytest.mark.parametrize(
    "kwargs",
    [{"source": ""}, {"source": None}, {"triggered_by": ""}, {"channel": " "}],
)
def test_run_adhoc_bad_arguments_send_nothing(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any]
) -> None:
    args = {"source": "workflow main {}", **kwargs}
    with pytest.raises(InvalidArgumentError):
        client.run_adhoc(**args)
    assert len(api.calls) == 0


def test_run_adhoc_invalid_inputs(api: ConformanceMock, client: AkribesClient) -> None:
    issues = [
        {"input": "x", "code": "missing", "expected": "int"},
        {"input": "y", "code": "wrong_type", "got": "str"},
    ]
    api.post(
        f"{BASE_URL}/execute",
        status=400,
        json={"error": "input_validation_failed", "errors": issues},
    )
    with pytest.raises(InvalidInputsError) as info:
        client.run_adhoc("workflow main {}", inputs={"y": "s"})
    error = info.value
    assert isinstance(error, BadRequestError)
    assert error.status_code == 400
    assert error.code == "input_validation_failed"
    assert error.input_errors == issues
    assert error.field_errors == [("x", "missing, expected int"), ("y", "wrong_type, got str")]
    assert "x: missing, expected int" in str(error)
    assert "y: wrong_type, got str" in str(error)


# --- generic JSON helpers ---------------------------------------------------------------------


def test_get_json_value_takes_a_relative_path(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}", json=PROJECT)
    assert client.get_json_value(f"/projects/{PID}") == PROJECT
    assert client.get_json_value(f"projects/{PID}") == PROJECT
    assert [c.request.url for c in api.calls] == [f"{BASE_URL}/projects/{PID}"] * 2
    assert all(c.request.headers["Authorization"] == AUTH for c in api.calls)


def test_get_json_value_takes_a_url_on_this_server(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/projects/{PID}", json=PROJECT)
    assert client.get_json_value(f"{BASE_URL}/projects/{PID}")["name"] == "support"
    assert only_request(api).headers["Authorization"] == AUTH


def test_get_json_value_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/99", status=404, json={"error": "not found"})
    with pytest.raises(NotFoundError):
        client.get_json_value("/projects/99")
    assert client.get_json_value_opt("/projects/99") is None


def test_get_json_value_opt(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/state", json={"env": {}})
    assert client.get_json_value_opt("/state") == {"env": {}}


def test_post_json_value(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/execute", json=ADHOC)
    reply = client.post_json_value("/execute", {"source": "workflow main {}"})
    request = only_request(api)
    assert request.body is not None
    assert json.loads(request.body) == {"source": "workflow main {}"}
    assert request.headers["Authorization"] == AUTH
    assert reply == ADHOC


def test_post_json_value_empty_reply_is_none(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/heartbeat", status=204)
    assert client.post_json_value("/heartbeat", {"client_id": "c-1"}) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_json_value("http://evil.example/projects"),
        lambda c: c.get_json_value("https://127.0.0.1:3000/projects"),  # another scheme
        lambda c: c.get_json_value("http://127.0.0.1:3001/projects"),  # another port
        lambda c: c.get_json_value_opt("http://evil.example/state"),
        lambda c: c.post_json_value("http://evil.example/execute", {}),
        lambda c: c.get_json_value(""),
        lambda c: c.post_json_value(None, {}),
    ],
)
def test_another_host_raises_before_sending(
    api: ConformanceMock, client: AkribesClient, call: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client)
    assert len(api.calls) == 0


# --- error bodies -----------------------------------------------------------------------------


def test_duplicate_suite(api: ConformanceMock, client: AkribesClient) -> None:
    path = f"/projects/{PID}/scripts/triage/bench"
    api.post(
        f"{BASE_URL}{path}",
        status=409,
        json={"error_type": "suite_already_exists", "existing_suite_id": 7, "error": "exists"},
    )
    with pytest.raises(DuplicateSuiteError) as info:
        client.post_json_value(path, {})
    assert isinstance(info.value, ConflictError)
    assert info.value.existing_id == 7
    assert info.value.code == "suite_already_exists"
    assert "exists" in str(info.value)


def test_conversion_failed_body() -> None:
    info = parse_akribes_error(
        {"error_type": "conversion_failed", "reason": "timeout", "attempts": 2}
    )
    assert info.error_class is DocumentConversionError
    assert info.attributes == {"reason": "timeout"}
    assert info.message == "document conversion failed"
    assert info.details == {"reason": "timeout", "attempts": 2}


def test_a_message_from_the_error_key(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/state", status=400, json={"error": "bad things", "error_type": "nope"})
    with pytest.raises(BadRequestError) as info:
        client.get_state()
    assert (info.value.message, info.value.code) == ("bad things", "nope")


@pytest.mark.parametrize(
    ("status", "text", "error"),
    [
        (401, "Unauthorized", AuthenticationError),
        (500, "down", InternalServerError),
        (503, "rate-limited", InternalServerError),
    ],
)
def test_plain_text_bodies(
    api: ConformanceMock, client: AkribesClient, status: int, text: str, error: type[Exception]
) -> None:
    api.get(f"{BASE_URL}/me/sandbox", status=status, body=text, content_type="text/plain")
    with pytest.raises(error) as info:
        client.get_sandbox_project_id()
    assert text in str(info.value)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("body", [None, [], "oops", {"error": ""}, {"error": 5}])
def test_parser_tolerates_odd_bodies(body: Any) -> None:
    info = parse_akribes_error(body)
    assert info.error_class is None
    assert info.message is None


@pytest.mark.off_spec("the spec's server is the bare origin, not a mount prefix")
def test_urls_keep_the_mount_prefix(api: ConformanceMock) -> None:
    api.get(f"{BASE_URL}/api/me/sandbox", json={"project_id": SANDBOX})
    with AkribesClient(f"{BASE_URL}/api/", token=TOKEN) as client:
        client.get_sandbox_project_id()
    assert urlsplit(only_request(api).url or "").path == "/api/me/sandbox"
