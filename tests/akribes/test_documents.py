"""`client.project(pid).documents`: claim, upload, status, progress and the ingest flow."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from controldeck._generated.akribes import ClaimHit, ClaimMiss, ConversionStatus
from controldeck.akribes import AkribesClient
from controldeck.akribes._documents import DocumentIngestError, DocumentsClient
from controldeck.errors import (
    InvalidArgumentError,
    NotFoundError,
    ResponseValidationError,
    WaitTimeoutError,
)
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID, TOKEN

DOCS = f"{BASE_URL}/projects/{PID}/documents"
DATA = b"%PDF-1.7 a small report\n" * 4
DIGEST = hashlib.sha256(DATA).hexdigest()
DOC_ID = "doc_0f8e"


def hit(status: str) -> dict[str, Any]:
    return {
        "status": "hit",
        "document_id": DOC_ID,
        "filename": "report.pdf",
        "content_hash": DIGEST,
        "conversion_status": status,
    }


def uploaded(status: str) -> dict[str, Any]:
    return {
        "document_id": DOC_ID,
        "filename": "report.pdf",
        "content_hash": DIGEST,
        "conversion_status": status,
    }


META: dict[str, Any] = {
    "id": DOC_ID,
    "filename": "report.pdf",
    "content_type": "application/pdf",
    "size_bytes": len(DATA),
    "content_hash": DIGEST,
    "conversion_status": "ready",
    "created_at": "2026-01-01T00:00:00Z",
}
MISS = {"status": "miss"}

pytestmark = pytest.mark.usefixtures("api")
# openapi-core decodes a multipart part sent as application/octet-stream to bytes, which the
# spec's `FileUpload.file` (type string, format binary) then rejects: the upload's request
# cannot be validated, though the path and its reply are the spec's.


class FakeTime:
    """A clock that only moves when slept on, recording each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def time_(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(DocumentsClient, "_clock", staticmethod(fake.clock))
    monkeypatch.setattr(DocumentsClient, "_sleep", staticmethod(fake.sleep))
    return fake


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(DATA)
    return path


def claims(api: ConformanceMock) -> list[Any]:
    return [
        json.loads(c.request.body)
        for c in api.calls
        if c.request.url == f"{DOCS}/claim" and c.request.body is not None
    ]


def test_claim_hit_and_miss(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{DOCS}/claim", json=hit("ready"))
    api.post(f"{DOCS}/claim", json=MISS)
    documents = client.project(PID).documents

    first = documents.claim(DIGEST.upper(), "report.pdf")
    second = documents.claim(DIGEST, "report.pdf")

    assert isinstance(first, ClaimHit)
    assert (first.document_id, first.conversion_status) == (DOC_ID, ConversionStatus.READY)
    assert isinstance(second, ClaimMiss)
    assert claims(api) == [{"content_hash": DIGEST, "filename": "report.pdf"}] * 2
    assert api.calls[0].request.headers["Authorization"] == AUTH


def test_progress(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{DOCS}/by-hash/{DIGEST}/progress"
    api.get(url, json={"state": "converting", "done_pages": 3, "total_pages": 10})
    api.get(url, json={"state": "idle"})
    api.get(url, status=404, json={"error": "none"})
    documents = client.project(PID).documents

    progress = documents.progress(DIGEST)
    assert progress is not None
    assert (progress.done_pages, progress.total_pages) == (3, 10)
    assert documents.progress(DIGEST) is None
    assert documents.progress(DIGEST) is None
    assert [c.request.url for c in api.calls] == [url] * 3


def test_upload_streams_a_path_as_part_file(
    api: ConformanceMock, client: AkribesClient, report: Path
) -> None:
    api.post(DOCS, json=uploaded("converting"), status=202)

    result = client.project(PID).documents.upload(report)

    request = api.calls[0].request
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=")[1]
    body = b"".join(request.body) if not isinstance(request.body, bytes) else request.body
    assert (
        body
        == (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="report.pdf"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + DATA
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert request.headers["Content-Length"] == str(len(body))
    assert (result.document_id, result.conversion_status) == (DOC_ID, "converting")


def test_upload_bytes_and_file_objects(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(DOCS, json=uploaded("ready"))
    api.post(DOCS, json=uploaded("ready"))
    documents = client.project(PID).documents
    named = io.BytesIO(DATA)
    named.name = "/tmp/in/scan.pdf"

    documents.upload(DATA, filename="a b.pdf")
    documents.upload(named)

    heads = [c.request.body for c in api.calls]
    assert all(isinstance(h, bytes) or h is not None for h in heads)
    texts = [b"".join(h) if not isinstance(h, bytes) else h for h in heads]
    assert b'name="file"; filename="a b.pdf"' in texts[0]
    assert b'name="file"; filename="scan.pdf"' in texts[1]
    assert DATA in texts[0] and DATA in texts[1]


def test_status_reads_the_document(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/documents/{DOC_ID}", json=META)
    api.get(f"{BASE_URL}/documents/{DOC_ID}", status=404, json={"error": "none"})
    documents = client.project(PID).documents

    assert documents.status(DOC_ID) == ConversionStatus.READY
    with pytest.raises(NotFoundError):
        documents.status(DOC_ID)


def test_ingest_hit_ready_uploads_nothing(
    api: ConformanceMock, client: AkribesClient, report: Path, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=hit("ready"))

    result = client.project(PID).documents.ingest(report)

    assert (result.document_id, result.deduplicated, result.conversion_status) == (
        DOC_ID,
        True,
        "ready",
    )
    assert result.content_hash == DIGEST
    assert len(api.calls) == 1
    assert time_.sleeps == []


def test_ingest_miss_uploads_then_polls_with_backoff(
    api: ConformanceMock, client: AkribesClient, report: Path, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=MISS)
    api.post(DOCS, json=uploaded("pending"))
    for status in ("converting", "converting", "converting", "converting", "converting"):
        api.post(f"{DOCS}/claim", json=hit(status))
    api.post(f"{DOCS}/claim", json=hit("ready"))

    result = client.project(PID).documents.ingest(report)

    assert result.deduplicated is False
    assert result.conversion_status == "ready"
    assert time_.sleeps == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [c.request.url for c in api.calls] == [f"{DOCS}/claim", DOCS] + [f"{DOCS}/claim"] * 6
    assert claims(api) == [{"content_hash": DIGEST, "filename": "report.pdf"}] * 7


def test_ingest_reuploads_when_a_reclaim_misses(
    api: ConformanceMock, client: AkribesClient, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=hit("converting"))
    api.post(f"{DOCS}/claim", json=MISS)
    api.post(DOCS, json=uploaded("text"))

    result = client.project(PID).documents.ingest(DATA, filename="report.pdf")

    assert (result.deduplicated, result.conversion_status) == (True, "text")
    assert [c.request.url for c in api.calls] == [f"{DOCS}/claim", f"{DOCS}/claim", DOCS]


def test_ingest_failed_names_the_servers_reason(
    api: ConformanceMock, client: AkribesClient, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=hit("failed"))
    api.get(
        f"{BASE_URL}/documents/{DOC_ID}",
        json={**META, "conversion_status": "failed", "conversion_error": "encrypted PDF"},
    )

    with pytest.raises(DocumentIngestError) as caught:
        client.project(PID).documents.ingest(DATA, filename="report.pdf")

    assert (caught.value.document_id, caught.value.reason) == (DOC_ID, "encrypted PDF")
    assert str(caught.value) == f"document {DOC_ID}: conversion failed: encrypted PDF"


def test_ingest_times_out_at_the_client_default(
    api: ConformanceMock, report: Path, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=hit("converting"))
    with (
        AkribesClient(BASE_URL, TOKEN, ingest_poll_timeout=5, max_retries=0) as client,
        pytest.raises(WaitTimeoutError) as caught,
    ):
        client.project(PID).documents.ingest(report)

    assert sum(time_.sleeps) == pytest.approx(5.0)
    assert "report.pdf" in str(caught.value)
    assert caught.value.last_state.conversion_status == "converting"


def test_ingest_timeout_argument_wins(
    api: ConformanceMock, client: AkribesClient, report: Path, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=hit("pending"))
    with pytest.raises(WaitTimeoutError):
        client.project(PID).documents.ingest(report, timeout=1)
    assert time_.sleeps == [0.25, 0.5, 0.25]


@pytest.mark.off_spec("a conversion_status the spec does not list")
def test_ingest_unknown_status_is_a_validation_error(
    api: ConformanceMock, client: AkribesClient, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json=hit("purged"))
    with pytest.raises(ResponseValidationError, match="purged"):
        client.project(PID).documents.ingest(DATA, filename="r.pdf")


@pytest.mark.off_spec("a claim status the spec does not list")
def test_ingest_unknown_claim_is_a_validation_error(
    api: ConformanceMock, client: AkribesClient, time_: FakeTime
) -> None:
    api.post(f"{DOCS}/claim", json={"status": "quarantined"})
    with pytest.raises(ResponseValidationError, match="quarantined"):
        client.project(PID).documents.ingest(DATA, filename="r.pdf")


@pytest.mark.parametrize(
    "call",
    [
        lambda d, p: d.claim("abc", "a.pdf"),
        lambda d, p: d.claim(DIGEST, ""),
        lambda d, p: d.progress("z" * 64),
        lambda d, p: d.upload(DATA),
        lambda d, p: d.upload(p / "missing.pdf"),
        lambda d, p: d.upload(p),
        lambda d, p: d.upload(io.StringIO("text"), filename="a.txt"),
        lambda d, p: d.upload(3),
        lambda d, p: d.status(""),
        lambda d, p: d.ingest(DATA),
        lambda d, p: d.ingest(DATA, filename="a.pdf", timeout=0),
        lambda d, p: d.ingest(DATA, filename="a.pdf", timeout=True),
    ],
)
def test_bad_arguments_send_nothing(
    api: ConformanceMock, client: AkribesClient, tmp_path: Path, call: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client.project(PID).documents, tmp_path)
    assert len(api.calls) == 0
