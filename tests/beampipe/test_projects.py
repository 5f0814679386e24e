"""Health, readiness, metrics, diagnostics, overview, the OpenAPI document, project configs,
WASM modules and projects: the exact request of every method and the decoded reply."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from controldeck._generated.beampipe import (
    DiagnosticSeverity,
    ProjectConfigRow,
    ProjectListItem,
    ProvenanceEventResponse,
    ValidationDiagnostic,
    ValidationReport,
)
from controldeck.beampipe import BeampipeClient, ProjectConfigValidationError, failure_of
from controldeck.beampipe._metrics import parse_metrics
from controldeck.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
)
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, AUTH, BASE_URL, NOW, error_body

PROJECT = "wallaby_hires"
CONFIG_UUID = "0192f0c4-9a3b-7c1d-8e2f-00000000f001"
WASM = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 300  # 75 KiB: over one block
DIGEST = hashlib.sha256(WASM).hexdigest()
SPEC_SHA = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
YAML = "metadata:\n  id: wallaby_hires\n  name: WALLABY — hi-res\n"  # non-ASCII on purpose
WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

REPORT: dict[str, Any] = {
    "project_id": PROJECT,
    "valid": True,
    "spec_sha256": SPEC_SHA,
    "errors": [],
    "warnings": [
        {
            "path": "spec_sha256",
            "code": "in_flight_config_pins",
            "message": "1 in-flight execution(s) pin a different project config spec_sha256",
            "severity": "warning",
        }
    ],
}
CONFIG_ROW: dict[str, Any] = {
    "uuid": CONFIG_UUID,
    "project_id": PROJECT,
    "version": 2,
    "spec": {"metadata": {"id": PROJECT}},
    "spec_sha256": SPEC_SHA,
    "active": True,
    "uploaded_at": NOW,
}

pytestmark = pytest.mark.usefixtures("api")

# A body streamed to a destination has been consumed, so the mock cannot read it again to
# validate it against the spec (as for event streams; asked of the conformance owner).


@pytest.fixture
def payloads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the SDK hands `requests` as each request body (`data=`), before `responses`
    reads it: a file must arrive as a sized stream, never as bytes read up front."""
    seen: list[Any] = []
    send = requests.Session.request

    def spy(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        seen.append((type(data), len(data) if hasattr(data, "__len__") else None))
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    return seen


def only_call(api: ConformanceMock) -> Any:
    assert len(api.calls) == 1
    return api.calls[0].request


def query_of(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


def path_of(request: Any) -> str:
    return urlsplit(request.url).path


def body_bytes(request: Any) -> bytes:
    """The body requests sent, whatever form the SDK handed it over in."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    raise AssertionError(f"unread streamed body {body!r}: use a callback that reads it")


# -- health and observability ------------------------------------------------------------------


def test_health_needs_no_token(api: ConformanceMock) -> None:
    api.get(f"{API}/health", json={"status": "ok", "service": "beampipe-v2"})
    with BeampipeClient(BASE_URL, max_retries=0) as anonymous:  # no token, no login details
        health = anonymous.health()
    assert (health.status, health.service) == ("ok", "beampipe-v2")
    request = only_call(api)
    assert request.method == "GET" and path_of(request) == "/api/v2/health"
    assert "Authorization" not in request.headers


def test_health_tap_needs_no_token(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/health/tap", json={"casda": "ok", "vizier": "not_configured"})
    tap = client.health_tap()
    assert (tap.casda, tap.vizier) == ("ok", "not_configured")
    request = only_call(api)
    assert path_of(request) == "/api/v2/health/tap"
    assert "Authorization" not in request.headers  # even when the client holds one


READY = {
    "status": "ready",
    "service": "beampipe-v2",
    "database": "ok",
    "redis": "not_configured",
    "tap_casda": "ok",
    "tap_vizier": "error",
    "queue_depth": 4,
    "jobs_running": 1,
}


def test_ready_sends_the_token(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/ready", json=READY)
    ready = client.ready()
    assert (ready.database, ready.redis, ready.queue_depth, ready.jobs_running) == (
        "ok",
        "not_configured",
        4,
        1,
    )
    request = only_call(api)
    assert path_of(request) == "/api/v2/ready"
    assert request.headers["Authorization"] == AUTH


def test_ready_503_is_service_unavailable(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "service_unavailable", "service unavailable", cls="dependency_unavailable", retry="safe"
    )
    api.get(f"{API}/ready", status=503, json=body)
    with pytest.raises(InternalServerError) as info:
        client.ready()
    assert (info.value.status_code, info.value.code) == (503, "service_unavailable")
    assert failure_of(info.value) is not None


def test_ready_without_a_token_sends_nothing(api: ConformanceMock) -> None:
    with (
        BeampipeClient(BASE_URL, max_retries=0) as anonymous,
        pytest.raises(InvalidArgumentError, match="needs a token"),
    ):
        anonymous.ready()
    assert len(api.calls) == 0


METRICS_TEXT = (
    "# HELP beampipe_jobs_running Jobs running\n"
    "# TYPE beampipe_jobs_running gauge\n"
    "beampipe_jobs_running 2\n"
    'beampipe_api_requests_total{route="/api/v2/health",status="200"} 7 1763892000000\n'
    'beampipe_label_text{note="naïve \\"q\\""} 1\n'
)


def test_metrics_returns_the_text(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/metrics",
        body=METRICS_TEXT.encode(),
        content_type="text/plain; version=0.0.4",
    )
    text = client.metrics()
    assert text == METRICS_TEXT  # no charset declared: UTF-8
    request = only_call(api)
    assert path_of(request) == "/api/v2/metrics"
    assert request.headers["Authorization"] == AUTH
    samples = parse_metrics(text)
    assert [(s.name, s.value) for s in samples] == [
        ("beampipe_jobs_running", 2.0),
        ("beampipe_api_requests_total", 7.0),
        ("beampipe_label_text", 1.0),
    ]
    assert samples[2].labels == {"note": 'naïve "q"'}


def test_metrics_in_a_declared_charset(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/metrics",
        body='m{a="é"} 1\n'.encode("latin-1"),
        content_type="text/plain; version=0.0.4; charset=iso-8859-1",
    )
    assert client.metrics() == 'm{a="é"} 1\n'


def test_metrics_that_are_not_text_are_a_response_error(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(f"{API}/metrics", body=b"m 1 \xff\n", content_type="text/plain; version=0.0.4")
    with pytest.raises(ResponseValidationError, match="not valid utf-8"):
        client.metrics()


def test_metrics_401(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "unauthorized", "authentication failed", cls="authentication", retry="after_remediation"
    )
    api.get(f"{API}/metrics", status=401, json=body)
    with pytest.raises(AuthenticationError) as info:
        client.metrics()
    assert info.value.status_code == 401


DIAGNOSTICS = {
    "healthy": False,
    "generated_at": NOW,
    "diagnostics": [
        {
            "path": "adapters.casda",
            "code": "casda.unreachable",
            "message": "the configured casda TAP endpoint is unreachable",
            "severity": "error",
            "hint": "check endpoint URL",
        },
        {
            "path": "daliuge",
            "code": "daliuge.not_configured",
            "message": "DALiuGE endpoints are not fully configured",
            "severity": "warning",
        },
    ],
}


def test_diagnostics(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/diagnostics", json=DIAGNOSTICS)
    report = client.diagnostics()
    assert report.healthy is False and report.generated_at == WHEN
    assert [(d.code, d.severity) for d in report.diagnostics] == [
        ("casda.unreachable", DiagnosticSeverity.ERROR),
        ("daliuge.not_configured", DiagnosticSeverity.WARNING),
    ]
    assert report.diagnostics[0].hint == "check endpoint URL"
    assert report.diagnostics[1].hint is None
    request = only_call(api)
    assert path_of(request) == "/api/v2/diagnostics"
    assert query_of(request) == {}  # no profile: no query parameter at all
    assert request.headers["Authorization"] == AUTH


def test_diagnostics_for_a_profile(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/diagnostics", json=DIAGNOSTICS)
    client.diagnostics(profile="setonix gpu")
    assert query_of(only_call(api)) == {"profile": ["setonix gpu"]}


@pytest.mark.parametrize("profile", ["", "  ", 3])
def test_diagnostics_bad_profile_sends_nothing(
    api: ConformanceMock, client: BeampipeClient, profile: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="profile"):
        client.diagnostics(profile=profile)
    assert len(api.calls) == 0


def test_overview(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/overview",
        json={
            "generated_at": NOW,
            "registered_sources": 12,
            "pending_admissions": 2,
            "running_executions": 3,
            "failed_executions": 1,
            "queue_depth": 5,
            "active_workers": 2,
            "stale_workers": 0,
            "recent_alerts": 0,
            "casda": "configured",
            "daliuge": "profile_managed",
            "scheduler": "configured",
        },
    )
    overview = client.overview()
    assert (overview.registered_sources, overview.running_executions) == (12, 3)
    assert overview.daliuge == "profile_managed" and overview.generated_at == WHEN
    request = only_call(api)
    assert path_of(request) == "/api/v2/overview"
    assert request.headers["Authorization"] == AUTH


def test_openapi_document(api: ConformanceMock, client: BeampipeClient) -> None:
    document = {"openapi": "3.1.0", "info": {"title": "beampipe", "version": "0.1.6"}, "paths": {}}
    api.get(f"{API}/openapi.json", json=document)
    assert client.openapi() == document
    request = only_call(api)
    assert path_of(request) == "/api/v2/openapi.json"
    assert "Authorization" not in request.headers


@pytest.mark.off_spec("a reply that is not an object, to show it is rejected")
def test_openapi_that_is_not_an_object(api: ConformanceMock, client: BeampipeClient) -> None:
    api.skip_validation = True
    api.get(f"{API}/openapi.json", json=["not", "a", "document"])
    with pytest.raises(ResponseValidationError):
        client.openapi()


# -- project configs --------------------------------------------------------------------------


def test_upload_project_config_from_text(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/project-configs", status=201, json=REPORT)
    report = client.upload_project_config(YAML)
    assert isinstance(report, ValidationReport)
    assert (report.project_id, report.valid, report.spec_sha256) == (PROJECT, True, SPEC_SHA)
    assert report.errors == []
    assert [w.code for w in report.warnings] == ["in_flight_config_pins"]
    request = only_call(api)
    assert request.method == "POST" and path_of(request) == "/api/v2/project-configs"
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert request.headers["Authorization"] == AUTH
    assert body_bytes(request) == YAML.encode("utf-8")
    assert request.headers["Content-Length"] == str(len(YAML.encode("utf-8")))


def test_upload_project_config_from_bytes(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/project-configs", status=201, json=REPORT)
    client.upload_project_config(bytearray(YAML.encode()))
    request = only_call(api)
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body_bytes(request) == YAML.encode()


def test_upload_project_config_streams_a_path(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path, payloads: list[Any]
) -> None:
    path = tmp_path / "wallaby_hires.v2.yaml"
    path.write_bytes(YAML.encode())
    api.post(f"{API}/project-configs", status=201, json=REPORT)
    report = client.upload_project_config(path)
    assert report.project_id == PROJECT
    request = only_call(api)
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert request.headers["Content-Length"] == str(len(YAML.encode()))
    assert body_bytes(request) == YAML.encode()
    ((kind, length),) = payloads
    assert kind not in (bytes, str) and length == len(YAML.encode())  # streamed from disk


def test_upload_project_config_invalid(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "project_config_validation_failed",
        "project config validation failed",
        cls="validation",
        retry="after_remediation",
    )
    body["failure"]["diagnostics"] = [  # type: ignore[index]
        {
            "path": "metadata.id",
            "code": "required",
            "message": "metadata.id is required",
            "severity": "error",
        },
        {
            "path": "discovery.adapter",
            "code": "unknown_adapter",
            "message": "unknown adapter",
            "severity": "error",
            "hint": "use casda or vizier",
        },
    ]
    api.post(f"{API}/project-configs", status=400, json=body)
    with pytest.raises(ProjectConfigValidationError) as info:
        client.upload_project_config(YAML)
    err = info.value
    assert isinstance(err, BadRequestError) and err.status_code == 400
    assert err.code == "project_config_validation_failed"
    assert isinstance(err.diagnostics, list)
    assert all(isinstance(d, ValidationDiagnostic) for d in err.diagnostics)
    assert [(d.path, d.code) for d in err.diagnostics] == [
        ("metadata.id", "required"),
        ("discovery.adapter", "unknown_adapter"),
    ]
    assert err.diagnostics[1].hint == "use casda or vizier"
    assert err.diagnostics[0].severity == DiagnosticSeverity.ERROR
    assert str(err) == (
        "HTTP 400 [project_config_validation_failed]: project config validation failed "
        "(metadata.id: metadata.id is required; discovery.adapter: unknown adapter)"
    )


def test_upload_project_config_parse_failure(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "project_config_parse_failed",
        "project config could not be parsed",
        cls="validation",
        retry="after_remediation",
    )
    api.post(f"{API}/project-configs", status=400, json=body)
    with pytest.raises(BadRequestError) as info:
        client.upload_project_config("metadata: [unclosed\n")
    assert not isinstance(info.value, ProjectConfigValidationError)
    assert info.value.code == "project_config_parse_failed"


def test_upload_project_config_needs_a_superuser(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    body = error_body(
        "forbidden", "superuser required", cls="authorization", retry="after_remediation"
    )
    api.post(f"{API}/project-configs", status=403, json=body)
    with pytest.raises(PermissionDeniedError):
        client.upload_project_config(YAML)


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        ("", "yaml must not be empty"),
        (" \n\t", "yaml must not be empty"),
        (b"", "yaml must not be empty"),
        (b"metadata: \xff\xfe\n", "yaml bytes must be UTF-8"),
        ("wallaby_hires.v2.yaml", "looks like a file name"),
        ("config/wallaby.YML ", "looks like a file name"),
        (None, "yaml must be str, UTF-8 bytes or a path"),
        ({"metadata": {}}, "yaml must be str, UTF-8 bytes or a path"),
        (io.BytesIO(b"metadata: {}"), "yaml must be str, UTF-8 bytes or a path"),
    ],
)
def test_upload_project_config_bad_arguments_send_nothing(
    api: ConformanceMock, client: BeampipeClient, yaml: Any, problem: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        client.upload_project_config(yaml)
    assert len(api.calls) == 0


def test_a_one_line_mapping_is_yaml_not_a_file_name(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.post(f"{API}/project-configs", status=201, json=REPORT)
    client.upload_project_config("graph: pipelines/hires.yaml")
    assert body_bytes(only_call(api)) == b"graph: pipelines/hires.yaml"


def test_upload_project_config_bad_paths_send_nothing(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match="is empty"):
        client.upload_project_config(empty)
    with pytest.raises(InvalidArgumentError):
        client.upload_project_config(tmp_path / "missing.yaml")
    with pytest.raises(InvalidArgumentError):
        client.upload_project_config(tmp_path)  # a directory
    assert len(api.calls) == 0


def test_get_project_config(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/project-configs/{PROJECT}", json=CONFIG_ROW)
    row = client.get_project_config(PROJECT)
    assert isinstance(row, ProjectConfigRow)
    assert (row.uuid, row.version, row.active, row.uploaded_at) == (CONFIG_UUID, 2, True, WHEN)
    assert row.spec == {"metadata": {"id": PROJECT}}
    request = only_call(api)
    assert request.method == "GET" and path_of(request) == "/api/v2/project-configs/wallaby_hires"
    assert request.headers["Authorization"] == AUTH


def test_project_ids_are_one_path_segment(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/project-configs/a%2Fb%20c", json={**CONFIG_ROW, "project_id": "a/b c"})
    assert client.get_project_config("a/b c").project_id == "a/b c"
    assert urlsplit(only_call(api).url).path == "/api/v2/project-configs/a%2Fb%20c"


def test_get_project_config_404(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/project-configs/nope",
        status=404,
        json=error_body("not_found", "not found", cls="not_found", retry="after_remediation"),
    )
    with pytest.raises(NotFoundError):
        client.get_project_config("nope")


def test_list_project_config_versions(api: ConformanceMock, client: BeampipeClient) -> None:
    older = {
        **CONFIG_ROW,
        "uuid": "0192f0c4-9a3b-7c1d-8e2f-00000000f000",
        "version": 1,
        "active": False,
    }
    api.get(f"{API}/project-configs/{PROJECT}/versions", json=[CONFIG_ROW, older])
    rows = client.list_project_config_versions(PROJECT)
    assert [(r.version, r.active) for r in rows] == [(2, True), (1, False)]
    assert all(isinstance(r, ProjectConfigRow) for r in rows)
    request = only_call(api)
    assert path_of(request) == "/api/v2/project-configs/wallaby_hires/versions"
    assert request.headers["Authorization"] == AUTH


def test_list_project_config_versions_of_an_unknown_project(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(f"{API}/project-configs/nope/versions", json=[])
    assert client.list_project_config_versions("nope") == []


@pytest.mark.parametrize("project_id", ["", "   ", None, 7, ".", ".."])
def test_bad_project_ids_send_nothing(
    api: ConformanceMock, client: BeampipeClient, project_id: Any
) -> None:
    calls = [
        lambda: client.get_project_config(project_id),
        lambda: client.list_project_config_versions(project_id),
        lambda: client.upload_project_config_wasm(project_id, WASM),
        lambda: client.get_project_config_wasm(project_id, DIGEST),
        lambda: client.download_project_config_wasm(project_id, DIGEST),
        lambda: client.get_project_contract(project_id),
        lambda: client.list_project_events(project_id),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError):
            call()
    assert len(api.calls) == 0


# -- WASM modules -----------------------------------------------------------------------------

UPLOADED = {"wasm_sha256": DIGEST, "project_config_id": CONFIG_UUID}


def test_upload_wasm_bytes(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/project-configs/{PROJECT}/wasm", status=201, json=UPLOADED)
    uploaded = client.upload_project_config_wasm(PROJECT, WASM)
    assert (uploaded.wasm_sha256, uploaded.project_config_id) == (DIGEST, CONFIG_UUID)
    request = only_call(api)
    assert request.method == "POST"
    assert path_of(request) == "/api/v2/project-configs/wallaby_hires/wasm"
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.headers["Authorization"] == AUTH
    assert body_bytes(request) == WASM


def test_upload_wasm_streams_a_path(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path, payloads: list[Any]
) -> None:
    path = tmp_path / "hooks.wasm"
    path.write_bytes(WASM)
    api.post(f"{API}/project-configs/{PROJECT}/wasm", status=201, json=UPLOADED)
    assert client.upload_project_config_wasm(PROJECT, path).wasm_sha256 == DIGEST
    request = only_call(api)
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.headers["Content-Length"] == str(len(WASM))
    assert body_bytes(request) == WASM
    ((kind, length),) = payloads
    assert kind not in (bytes, str) and length == len(WASM)  # streamed from disk


def test_upload_wasm_rejected_by_the_server(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "wasm_validation_failed",
        "wasm module is invalid",
        cls="validation",
        retry="after_remediation",
    )
    api.post(f"{API}/project-configs/{PROJECT}/wasm", status=400, json=body)
    with pytest.raises(BadRequestError) as info:
        client.upload_project_config_wasm(PROJECT, b"not wasm")
    assert info.value.code == "wasm_validation_failed"


@pytest.mark.parametrize(
    ("wasm", "problem"),
    [
        (b"", "wasm must not be empty"),
        ("hooks.wasm", "a str is not a module: pass pathlib.Path"),
        (None, "wasm must be bytes or a path"),
        (io.BytesIO(WASM), "wasm must be bytes or a path"),
    ],
)
def test_upload_wasm_bad_arguments_send_nothing(
    api: ConformanceMock, client: BeampipeClient, wasm: Any, problem: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        client.upload_project_config_wasm(PROJECT, wasm)
    assert len(api.calls) == 0


def test_upload_wasm_empty_file_sends_nothing(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.wasm"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match="is empty"):
        client.upload_project_config_wasm(PROJECT, empty)
    assert len(api.calls) == 0


WASM_INFO = {"wasm_sha256": DIGEST, "project_config_id": CONFIG_UUID, "uploaded_at": NOW}


def test_get_wasm_info(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/project-configs/{PROJECT}/wasm/{DIGEST}", json=WASM_INFO)
    info = client.get_project_config_wasm(PROJECT, DIGEST.upper())  # canonicalised
    assert (info.wasm_sha256, info.project_config_id, info.uploaded_at) == (
        DIGEST,
        CONFIG_UUID,
        WHEN,
    )
    assert info.bytes_len is None
    request = only_call(api)
    assert path_of(request) == f"/api/v2/project-configs/wallaby_hires/wasm/{DIGEST}"
    assert query_of(request) == {}  # metadata: no download flag at all
    assert request.headers["Authorization"] == AUTH


@pytest.mark.parametrize("sha256", ["", "abc", DIGEST[:-1], DIGEST + "0", "g" * 64, None, 5])
def test_bad_digests_send_nothing(
    api: ConformanceMock, client: BeampipeClient, sha256: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="sha256"):
        client.get_project_config_wasm(PROJECT, sha256)
    with pytest.raises(InvalidArgumentError, match="sha256"):
        client.download_project_config_wasm(PROJECT, sha256)
    assert len(api.calls) == 0


def wasm_download(api: ConformanceMock, body: bytes = WASM, **headers: str) -> None:
    api.get(
        f"{API}/project-configs/{PROJECT}/wasm/{DIGEST}",
        body=body,
        content_type="application/wasm",
        headers=headers,
    )


def test_download_wasm_into_memory(api: ConformanceMock, client: BeampipeClient) -> None:
    wasm_download(api)
    data = client.download_project_config_wasm(PROJECT, DIGEST)
    assert data == WASM
    request = only_call(api)
    assert path_of(request) == f"/api/v2/project-configs/wallaby_hires/wasm/{DIGEST}"
    assert query_of(request) == {"download": ["true"]}
    assert request.headers["Authorization"] == AUTH


def test_download_wasm_to_a_path(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path
) -> None:
    wasm_download(api)
    dest = tmp_path / "hooks.wasm"
    written = client.download_project_config_wasm(PROJECT, DIGEST, dest)
    assert written == dest and isinstance(written, Path)
    assert dest.read_bytes() == WASM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hooks.wasm"]  # no temp file left
    assert query_of(only_call(api)) == {"download": ["true"]}


def test_download_wasm_to_a_str_path(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path
) -> None:
    wasm_download(api)
    written = client.download_project_config_wasm(PROJECT, DIGEST, str(tmp_path / "h.wasm"))
    assert written == tmp_path / "h.wasm" and written.read_bytes() == WASM


def test_download_wasm_to_a_file(api: ConformanceMock, client: BeampipeClient) -> None:
    wasm_download(api)
    buffer = io.BytesIO()
    count = client.download_project_config_wasm(PROJECT, DIGEST, buffer)
    assert count == len(WASM) and buffer.getvalue() == WASM
    assert not buffer.closed  # the caller's file stays open


@pytest.mark.off_spec("the reply is cut short on purpose")
def test_a_cut_download_leaves_no_file(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path
) -> None:
    # The server promised more bytes than it sent: the path is never written.
    wasm_download(api, WASM[:100], **{"Content-Length": str(len(WASM))})
    dest = tmp_path / "hooks.wasm"
    with pytest.raises(APIConnectionError):
        client.download_project_config_wasm(PROJECT, DIGEST, dest)
    assert list(tmp_path.iterdir()) == []


def test_download_wasm_404(api: ConformanceMock, client: BeampipeClient, tmp_path: Path) -> None:
    api.get(
        f"{API}/project-configs/{PROJECT}/wasm/{DIGEST}",
        status=404,
        json=error_body("not_found", "not found", cls="not_found", retry="after_remediation"),
    )
    with pytest.raises(NotFoundError):
        client.download_project_config_wasm(PROJECT, DIGEST, tmp_path / "hooks.wasm")
    assert list(tmp_path.iterdir()) == []


def test_bad_download_destinations_send_nothing(
    api: ConformanceMock, client: BeampipeClient, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError, match="directory"):
        client.download_project_config_wasm(PROJECT, DIGEST, tmp_path)
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        client.download_project_config_wasm(PROJECT, DIGEST, tmp_path / "no" / "hooks.wasm")
    with pytest.raises(InvalidArgumentError, match="binary mode"):
        client.download_project_config_wasm(PROJECT, DIGEST, io.StringIO())  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="path or a binary file"):
        client.download_project_config_wasm(PROJECT, DIGEST, 42)  # type: ignore[call-overload]
    assert len(api.calls) == 0


# -- projects ---------------------------------------------------------------------------------


def test_list_projects(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/projects",
        json=[
            {"project_id": PROJECT, "version": 2, "active": True},
            {"project_id": "emu", "version": 1, "active": True},
        ],
    )
    projects = client.list_projects()
    assert projects == [
        ProjectListItem(project_id=PROJECT, version=2, active=True),
        ProjectListItem(project_id="emu", version=1, active=True),
    ]
    request = only_call(api)
    assert path_of(request) == "/api/v2/projects"
    assert request.headers["Authorization"] == AUTH


def test_list_project_contracts(api: ConformanceMock, client: BeampipeClient) -> None:
    invalid = {
        "project_id": "emu",
        "valid": False,
        "spec_sha256": SPEC_SHA,
        "errors": [
            {"path": "graph", "code": "missing", "message": "no graph", "severity": "error"}
        ],
    }
    api.get(f"{API}/projects/contracts", json=[REPORT, invalid])
    contracts = client.list_project_contracts()
    assert [(c.project_id, c.valid) for c in contracts] == [(PROJECT, True), ("emu", False)]
    assert contracts[1].warnings == []  # left out by the server when empty
    assert contracts[1].errors[0].path == "graph"
    request = only_call(api)
    assert path_of(request) == "/api/v2/projects/contracts"
    assert request.headers["Authorization"] == AUTH


def test_get_project_contract(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/projects/contracts/{PROJECT}", json=REPORT)
    contract = client.get_project_contract(PROJECT)
    assert contract.spec_sha256 == SPEC_SHA and contract.valid
    request = only_call(api)
    assert path_of(request) == "/api/v2/projects/contracts/wallaby_hires"
    assert request.headers["Authorization"] == AUTH


def event(n: int) -> dict[str, Any]:
    return {
        "id": f"0192f0c4-9a3b-7c1d-8e2f-{n:012d}",
        "occurred_at": NOW,
        "event_type": "execution.created",
        "project_module": PROJECT,
        "execution_id": None,
        "source_identifier": "HIPASSJ1318-21",
        "actor": "admin",
        "correlation_id": None,
        "payload": {"n": n},
    }


def test_list_project_events_pages_lazily(api: ConformanceMock, client: BeampipeClient) -> None:
    url = f"{API}/projects/{PROJECT}/events"
    api.get(url, json=[event(1), event(2), event(3)])  # one more than a page: more follow
    api.get(url, json=[event(3)])
    page = client.list_project_events(PROJECT, limit=2)
    assert len(api.calls) == 1  # the first page only, until iterated
    assert [e.payload for e in page.data] == [{"n": 1}, {"n": 2}]
    assert all(isinstance(e, ProvenanceEventResponse) for e in page.data)
    assert page.data[0].source_identifier == "HIPASSJ1318-21" and page.data[0].execution_id is None
    assert page.data[0].occurred_at == WHEN
    assert [e.payload["n"] for e in page] == [1, 2, 3]
    assert len(api.calls) == 2  # the second reply held no extra row: no empty request
    first, second = (c.request for c in api.calls)
    assert path_of(first) == "/api/v2/projects/wallaby_hires/events"
    assert query_of(first) == {"limit": ["3"], "offset": ["0"]}
    assert query_of(second) == {"limit": ["3"], "offset": ["2"]}
    assert first.headers["Authorization"] == AUTH == second.headers["Authorization"]


def test_list_project_events_defaults(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/projects/{PROJECT}/events", json=[])
    page = client.list_project_events(PROJECT)
    assert page.data == [] and list(page) == []
    assert query_of(only_call(api)) == {"limit": ["101"], "offset": ["0"]}


def test_list_project_events_from_an_offset(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/projects/{PROJECT}/events", json=[event(9)])
    client.list_project_events(PROJECT, limit=10, offset=30)
    assert query_of(only_call(api)) == {"limit": ["11"], "offset": ["30"]}


@pytest.mark.parametrize(
    ("limit", "offset"), [(0, 0), (500, 0), (True, 0), ("10", 0), (10, -1), (10, 1.5)]
)
def test_list_project_events_bad_paging_sends_nothing(
    api: ConformanceMock, client: BeampipeClient, limit: Any, offset: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.list_project_events(PROJECT, limit=limit, offset=offset)
    assert len(api.calls) == 0
