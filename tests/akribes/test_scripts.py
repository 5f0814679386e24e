"""`project(pid).scripts`: the exact requests sent and the values decoded.

Every request and canned reply is checked against openapi/akribes.yaml by the `api` fixture.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from controldeck.akribes import AkribesClient
from controldeck.akribes._scripts import ScriptsClient
from controldeck.errors import InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID

pytestmark = pytest.mark.usefixtures("api")

SCRIPTS = f"{BASE_URL}/projects/{PID}/scripts"


def script(id: int = 12, name: str = "triage", project_id: int = PID) -> dict[str, Any]:
    return {"id": id, "project_id": project_id, "name": name, "created_at": "2026-02-01T10:00:00Z"}


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    return request


def assert_sent(request: requests.PreparedRequest, method: str, url: str, body: Any = None) -> None:
    """Method, URL (with query), bearer token and JSON body (None: no body at all)."""
    assert request.method == method
    assert request.url == url
    assert request.headers["Authorization"] == AUTH
    assert "X-Akribes-User" not in request.headers
    if body is None:
        assert request.body is None
        assert "Content-Type" not in request.headers
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.body or b"") == body


@pytest.fixture
def scripts(client: AkribesClient) -> ScriptsClient:
    return client.project(PID).scripts


def test_list_pages_with_limit_and_offset(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.get(SCRIPTS, json=[script(id=i, name=f"s{i}") for i in range(200)])

    page = scripts.list()

    assert_sent(only_request(api), "GET", f"{SCRIPTS}?limit=200&offset=0")
    assert len(page.data) == 200
    assert page.data[3].name == "s3"
    assert page.data[3].created_at == datetime(2026, 2, 1, 10, tzinfo=UTC)
    api.replace("GET", SCRIPTS, json=[script(id=200, name="last")])
    second = page.next_page()
    assert second is not None
    assert api.calls[1].request.url == f"{SCRIPTS}?limit=200&offset=200"
    assert [s.name for s in second.data] == ["last"]
    assert not second.has_next


def test_list_of_a_missing_project_is_empty(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.get(SCRIPTS, status=404, json={"error": "project not found"})
    assert list(scripts.list()) == []
    assert len(api.calls) == 1


def test_get_encodes_the_name_as_one_segment(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.get(f"{SCRIPTS}/a%20b%2Fc", json=script(name="a b/c"))

    found = scripts.get("a b/c")

    assert_sent(only_request(api), "GET", f"{SCRIPTS}/a%20b%2Fc")
    assert found is not None
    assert (found.id, found.project_id, found.name) == (12, PID, "a b/c")


def test_get_returns_none_on_404(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.get(f"{SCRIPTS}/gone", status=404, json={"error": "script not found"})
    assert scripts.get("gone") is None


def test_create_sends_the_name_as_a_query_parameter(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.post(SCRIPTS, status=201, json=script(name="new one"))

    created = scripts.create("new one", "workflow main {}")

    assert_sent(
        only_request(api), "POST", f"{SCRIPTS}?name=new+one", {"source": "workflow main {}"}
    )
    assert created.name == "new one"


def test_create_accepts_empty_source(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.post(SCRIPTS, status=201, json=script())
    scripts.create("triage", "")
    assert json.loads(only_request(api).body or b"") == {"source": ""}


def test_rename_sends_new_name_and_reads_no_body(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.patch(f"{SCRIPTS}/triage", status=204)

    assert scripts.rename("triage", "triage_v2") is None  # type: ignore[func-returns-value]

    assert_sent(only_request(api), "PATCH", f"{SCRIPTS}/triage", {"new_name": "triage_v2"})


def test_rename_of_a_missing_script_raises(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.patch(f"{SCRIPTS}/gone", status=404, json={"error": "script not found"})
    with pytest.raises(NotFoundError, match="script not found"):
        scripts.rename("gone", "x")


def test_delete(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.delete(f"{SCRIPTS}/triage", status=204)
    scripts.delete("triage")
    assert_sent(only_request(api), "DELETE", f"{SCRIPTS}/triage")


def test_delete_of_a_missing_script_raises(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.delete(f"{SCRIPTS}/gone", status=404, json={"error": "script not found"})
    with pytest.raises(NotFoundError):
        scripts.delete("gone")


def test_duplicate_posts_an_empty_object(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.post(f"{SCRIPTS}/triage/duplicate", json=script(id=13, name="triage (copy)"))

    copy = scripts.duplicate("triage")

    assert_sent(only_request(api), "POST", f"{SCRIPTS}/triage/duplicate", {})
    assert (copy.id, copy.name) == (13, "triage (copy)")


def test_move_to(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.post(f"{SCRIPTS}/triage/move", json=script(project_id=8))

    moved = scripts.move_to("triage", 8)

    assert_sent(only_request(api), "POST", f"{SCRIPTS}/triage/move", {"target_project_id": 8})
    assert moved.project_id == 8


def test_reorder(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.put(f"{SCRIPTS}/reorder", status=204)
    scripts.reorder((12, 10, 11))
    assert_sent(only_request(api), "PUT", f"{SCRIPTS}/reorder", {"order": [12, 10, 11]})


CHECK_REPLY: dict[str, Any] = {
    "ok": False,
    "analyzer_version": "0.26.2",
    "diagnostics": [
        {
            "code": "E001",
            "severity": "error",
            "message": "expected `}`",
            "line": 1,
            "col": 16,
            "end_line": None,
            "end_col": None,
        }
    ],
}


def test_check_without_source_sends_an_empty_object(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.post(f"{SCRIPTS}/triage/check", json={"ok": True, "analyzer_version": "0.26.2"})

    result = scripts.check("triage")

    assert_sent(only_request(api), "POST", f"{SCRIPTS}/triage/check", {})
    assert result.ok is True
    assert result.diagnostics == []
    assert result.analyzer_version == "0.26.2"


def test_check_with_source(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.post(f"{SCRIPTS}/triage/check", json=CHECK_REPLY)

    result = scripts.check("triage", "workflow main {")

    assert_sent(only_request(api), "POST", f"{SCRIPTS}/triage/check", {"source": "workflow main {"})
    assert result.ok is False
    diagnostic = result.diagnostics[0]
    assert (diagnostic.code, diagnostic.severity, diagnostic.line, diagnostic.col) == (
        "E001",
        "error",
        1,
        16,
    )
    assert diagnostic.message == "expected `}`"
    assert diagnostic.end_line is None


# --- resolve --------------------------------------------------------------------------------


def test_resolve_an_int_matches_ids_in_the_list(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.get(SCRIPTS, json=[script(id=10, name="a"), script(id=12, name="b")])

    found = scripts.resolve(12)

    assert found is not None and found.name == "b"
    assert_sent(only_request(api), "GET", f"{SCRIPTS}?limit=200&offset=0")


def test_resolve_an_unknown_int_is_none_without_a_name_lookup(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.get(SCRIPTS, json=[script(id=10)])
    assert scripts.resolve(99) is None
    assert len(api.calls) == 1


def test_resolve_a_digit_string_is_an_id_first(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.get(SCRIPTS, json=[script(id=12, name="b")])
    found = scripts.resolve("12")
    assert found is not None and found.id == 12
    assert len(api.calls) == 1


def test_resolve_a_digit_string_falls_back_to_a_name(
    api: ConformanceMock, scripts: ScriptsClient
) -> None:
    api.get(SCRIPTS, json=[script(id=10)])
    api.get(f"{SCRIPTS}/2024", json=script(id=11, name="2024"))

    found = scripts.resolve("2024")

    assert found is not None and found.id == 11
    assert [c.request.url for c in api.calls] == [
        f"{SCRIPTS}?limit=200&offset=0",
        f"{SCRIPTS}/2024",
    ]


def test_resolve_a_name_gets_it(api: ConformanceMock, scripts: ScriptsClient) -> None:
    api.get(f"{SCRIPTS}/triage", status=404, json={"error": "script not found"})
    assert scripts.resolve("triage") is None
    assert_sent(only_request(api), "GET", f"{SCRIPTS}/triage")


# --- argument errors: nothing is sent ---------------------------------------------------------

BAD_CALLS: list[tuple[str, Callable[[ScriptsClient], object], str]] = [
    ("get empty", lambda s: s.get(""), "name must not be empty"),
    ("get None", lambda s: s.get(None), "name must be a string"),  # type: ignore[arg-type]
    ("create blank name", lambda s: s.create("  ", "x"), "name must not be empty"),
    ("create bytes source", lambda s: s.create("a", b"x"), "source must be a string"),  # type: ignore[arg-type]
    ("rename empty", lambda s: s.rename("a", ""), "new_name must not be empty"),
    ("resolve bool", lambda s: s.resolve(True), "id_or_name must be an id"),
    ("resolve negative", lambda s: s.resolve(-1), "id_or_name must be an id"),
    ("resolve empty", lambda s: s.resolve(""), "id_or_name must not be empty"),
    ("delete empty", lambda s: s.delete(""), "name must not be empty"),
    ("duplicate empty", lambda s: s.duplicate(""), "name must not be empty"),
    ("move to str", lambda s: s.move_to("a", "8"), "target_project_id must be"),  # type: ignore[arg-type]
    ("move to negative", lambda s: s.move_to("a", -1), "target_project_id must be"),
    ("reorder str", lambda s: s.reorder("12"), "order must be a list"),  # type: ignore[arg-type]
    ("reorder str item", lambda s: s.reorder([1, "2"]), r"order\[1\] must be an id"),  # type: ignore[list-item]
    ("check int source", lambda s: s.check("a", 3), "source must be a string"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("call", "message"), [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS]
)
def test_bad_arguments_send_nothing(
    api: ConformanceMock,
    scripts: ScriptsClient,
    call: Callable[[ScriptsClient], object],
    message: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        call(scripts)
    assert len(api.calls) == 0
