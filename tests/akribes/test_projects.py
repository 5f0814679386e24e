"""`client.projects`: the exact requests sent, the values decoded, the 404 rules.

Every request and canned reply is checked against openapi/akribes.yaml by the `api` fixture.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from controldeck.akribes import AkribesClient
from controldeck.errors import InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID

PROJECT = {"id": PID, "name": "support", "created_at": "2026-01-05T10:00:00Z"}
OTHER = {"id": 8, "name": "billing", "created_at": "2026-01-06T10:00:00Z"}
SCRIPT = {"id": 11, "project_id": PID, "name": "triage", "created_at": "2026-01-05T11:00:00Z"}
CHANNEL = {
    "id": 3,
    "script_id": 11,
    "name": "production",
    "version_id": 21,
    "updated_at": "2026-01-07T09:00:00Z",
}
NOT_FOUND = {"error": "not found"}


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    assert request.headers["Authorization"] == AUTH
    return request


def query(request: requests.PreparedRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url or "").query))


def body(request: requests.PreparedRequest) -> Any:
    assert request.body is not None
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.body)


# --- projects ---------------------------------------------------------------------------------


def test_list_pages_with_limit_and_offset(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects", json=[PROJECT, OTHER])
    page = client.projects.list()
    request = only_request(api)
    assert request.method == "GET"
    assert urlsplit(request.url or "").path == "/projects"
    assert query(request) == {"limit": "200", "offset": "0"}
    assert [(p.id, p.name) for p in page] == [(PID, "support"), (8, "billing")]
    assert page[0].created_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert not page.has_next


def test_list_follows_full_pages(api: ConformanceMock, client: AkribesClient) -> None:
    full = [{**PROJECT, "id": i} for i in range(200)]
    api.get(f"{BASE_URL}/projects", json=full)
    api.get(f"{BASE_URL}/projects", json=[OTHER])
    ids = [p.id for p in client.projects.list()]
    assert ids == [*range(200), 8]
    offsets = [query(c.request)["offset"] for c in api.calls]
    assert offsets == ["0", "200"]


def test_list_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects", status=404, json=NOT_FOUND)
    assert list(client.projects.list()) == []


def test_get(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}", json=PROJECT)
    project = client.projects.get(PID)
    request = only_request(api)
    assert request.method == "GET"
    assert request.url == f"{BASE_URL}/projects/{PID}"
    assert project is not None
    assert (project.id, project.name) == (PID, "support")


def test_get_404_is_none(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/99", status=404, json=NOT_FOUND)
    assert client.projects.get(99) is None


def test_create_leaves_out_the_organization(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects", status=201, json=PROJECT)
    project = client.projects.create("support")
    request = only_request(api)
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/projects"
    assert body(request) == {"name": "support"}
    assert project.id == PID


def test_create_in_an_organization(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects", status=201, json=PROJECT)
    client.projects.create("support", organization_name="acme")
    assert body(only_request(api)) == {"name": "support", "organization_name": "acme"}


def test_update(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(f"{BASE_URL}/projects/{PID}", json={**PROJECT, "name": "support-v2"})
    project = client.projects.update(PID, "support-v2")
    request = only_request(api)
    assert request.method == "PATCH"
    assert request.url == f"{BASE_URL}/projects/{PID}"
    assert body(request) == {"name": "support-v2"}
    assert project.name == "support-v2"


def test_update_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(f"{BASE_URL}/projects/99", status=404, json=NOT_FOUND)
    with pytest.raises(NotFoundError):
        client.projects.update(99, "x")


@pytest.mark.parametrize("status", [204, 404])
def test_delete_ignores_a_missing_project(
    api: ConformanceMock, client: AkribesClient, status: int
) -> None:
    api.delete(
        f"{BASE_URL}/projects/{PID}", status=status, json=NOT_FOUND if status == 404 else None
    )
    assert client.projects.delete(PID) is None
    request = only_request(api)
    assert request.method == "DELETE"
    assert request.url == f"{BASE_URL}/projects/{PID}"
    assert not request.body


def test_duplicate_sends_an_empty_object(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects/{PID}/duplicate", json={**PROJECT, "id": 9})
    copy = client.projects.duplicate(PID)
    request = only_request(api)
    assert request.method == "POST"
    assert body(request) == {}
    assert copy.id == 9


def test_reorder(api: ConformanceMock, client: AkribesClient) -> None:
    api.put(f"{BASE_URL}/projects/reorder", status=204)
    assert client.projects.reorder((9, PID, 8)) is None
    request = only_request(api)
    assert request.method == "PUT"
    assert request.url == f"{BASE_URL}/projects/reorder"
    assert body(request) == {"order": [9, PID, 8]}


def test_resolve_an_id(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}", json=PROJECT)
    api.get(f"{BASE_URL}/projects/8", json=OTHER)
    first = client.projects.resolve(PID)
    second = client.projects.resolve("8")
    assert first is not None and first.name == "support"
    assert second is not None and second.name == "billing"
    assert [c.request.url for c in api.calls] == [
        f"{BASE_URL}/projects/{PID}",
        f"{BASE_URL}/projects/8",
    ]


def test_resolve_a_name_matches_exactly(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects", json=[PROJECT, OTHER])
    found = client.projects.resolve("billing")
    assert found is not None and found.id == 8
    assert client.projects.resolve("Billing") is None
    assert [urlsplit(c.request.url or "").path for c in api.calls] == ["/projects"] * 2


def test_resolve_a_missing_id(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/42", status=404, json=NOT_FOUND)
    assert client.projects.resolve("42") is None


# --- scripts of a project ---------------------------------------------------------------------


def test_list_scripts(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}/scripts", json=[SCRIPT])
    scripts = client.projects.list_scripts(PID)
    request = only_request(api)
    assert urlsplit(request.url or "").path == f"/projects/{PID}/scripts"
    assert query(request) == {"limit": "200", "offset": "0"}
    assert [(s.id, s.project_id, s.name) for s in scripts] == [(11, PID, "triage")]


def test_list_scripts_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/99/scripts", status=404, json=NOT_FOUND)
    assert list(client.projects.list_scripts(99)) == []


def test_move_script(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects/{PID}/scripts/triage/move", json={**SCRIPT, "project_id": 8})
    moved = client.projects.move_script(PID, "triage", 8)
    request = only_request(api)
    assert request.method == "POST"
    assert body(request) == {"target_project_id": 8}
    assert moved.project_id == 8


def test_rename_script_encodes_the_name(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(f"{BASE_URL}/projects/{PID}/scripts/a%2Fb%20c", status=204)
    client.projects.rename_script(PID, "a/b c", "abc")
    request = only_request(api)
    assert request.method == "PATCH"
    assert request.url == f"{BASE_URL}/projects/{PID}/scripts/a%2Fb%20c"
    assert body(request) == {"new_name": "abc"}


def test_rename_script_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(f"{BASE_URL}/projects/{PID}/scripts/gone", status=404, json=NOT_FOUND)
    with pytest.raises(NotFoundError):
        client.projects.rename_script(PID, "gone", "x")


@pytest.mark.parametrize("status", [204, 404])
def test_delete_script(api: ConformanceMock, client: AkribesClient, status: int) -> None:
    api.delete(
        f"{BASE_URL}/projects/{PID}/scripts/triage",
        status=status,
        json=NOT_FOUND if status == 404 else None,
    )
    client.projects.delete_script(PID, "triage")
    request = only_request(api)
    assert request.method == "DELETE"
    assert request.url == f"{BASE_URL}/projects/{PID}/scripts/triage"


def test_duplicate_script(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(
        f"{BASE_URL}/projects/{PID}/scripts/triage/duplicate",
        status=201,
        json={**SCRIPT, "id": 12, "name": "triage-copy"},
    )
    copy = client.projects.duplicate_script(PID, "triage")
    request = only_request(api)
    assert body(request) == {}
    assert (copy.id, copy.name) == (12, "triage-copy")


def test_list_channels(api: ConformanceMock, client: AkribesClient) -> None:
    unpinned = {"id": 4, "script_id": 11, "name": "staging"}
    api.get(f"{BASE_URL}/projects/{PID}/scripts/triage/channels", json=[CHANNEL, unpinned])
    channels = client.projects.list_channels(PID, "triage")
    request = only_request(api)
    assert urlsplit(request.url or "").path == f"/projects/{PID}/scripts/triage/channels"
    assert query(request) == {"limit": "200", "offset": "0"}
    assert [(c.name, c.version_id) for c in channels] == [("production", 21), ("staging", None)]


def test_list_channels_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}/scripts/gone/channels", status=404, json=NOT_FOUND)
    assert list(client.projects.list_channels(PID, "gone")) == []


def test_reorder_scripts(api: ConformanceMock, client: AkribesClient) -> None:
    api.put(f"{BASE_URL}/projects/{PID}/scripts/reorder", status=204)
    client.projects.reorder_scripts(PID, [12, 11])
    request = only_request(api)
    assert request.method == "PUT"
    assert body(request) == {"order": [12, 11]}


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.projects.get("7"),
        lambda c: c.projects.get(-1),
        lambda c: c.projects.get(True),
        lambda c: c.projects.create(""),
        lambda c: c.projects.create("x", organization_name=" "),
        lambda c: c.projects.update(PID, None),
        lambda c: c.projects.delete(1.5),
        lambda c: c.projects.duplicate(None),
        lambda c: c.projects.reorder("7,8"),
        lambda c: c.projects.reorder([7, "8"]),
        lambda c: c.projects.resolve(""),
        lambda c: c.projects.resolve(None),
        lambda c: c.projects.list_scripts("7"),
        lambda c: c.projects.move_script(PID, "", 8),
        lambda c: c.projects.move_script(PID, "triage", "8"),
        lambda c: c.projects.rename_script(PID, "triage", ""),
        lambda c: c.projects.delete_script(PID, 3.0),
        lambda c: c.projects.duplicate_script("7", "triage"),
        lambda c: c.projects.list_channels(PID, ""),
        lambda c: c.projects.reorder_scripts(PID, [True]),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client)
    assert len(api.calls) == 0
