"""`client.convert`: one multipart part `file`, its MIME type from the extension."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import requests

from controldeck.akribes import AkribesClient, DocumentConversionError
from controldeck.errors import InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID

RESULT = {"markdown": "# Report\n", "document_id": "doc_0f8e", "filename": "report.pdf"}
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    assert request.headers["Authorization"] == AUTH
    assert request.method == "POST"
    return request


def sent_bytes(request: requests.PreparedRequest) -> bytes:
    body: Any = request.body
    return body if isinstance(body, bytes) else body.read()


def file_part(filename: str, content_type: str, content: bytes) -> bytes:
    """The headers and content of the `file` part, between its boundaries."""
    return (
        b'Content-Disposition: form-data; name="file"; filename="'
        + filename.encode()
        + b'"\r\nContent-Type: '
        + content_type.encode()
        + b"\r\n\r\n"
        + content
    )


def assert_file_part(
    request: requests.PreparedRequest, filename: str, content_type: str, content: bytes
) -> None:
    kind, _, boundary = request.headers["Content-Type"].partition("; boundary=")
    assert kind == "multipart/form-data"
    part = file_part(filename, content_type, content)
    expected = (
        b"--" + boundary.encode() + b"\r\n" + part + b"\r\n--" + boundary.encode() + b"--\r\n"
    )
    assert sent_bytes(request) == expected
    assert request.headers["Content-Length"] == str(len(expected))


def test_convert_bytes(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/convert", json=RESULT)
    result = client.convert.convert_file(PDF, filename="report.pdf")
    request = only_request(api)
    assert request.url == f"{BASE_URL}/convert"
    assert_file_part(request, "report.pdf", "application/pdf", PDF)
    assert result.markdown == "# Report\n"
    assert result.document_id == "doc_0f8e"
    assert result.cache_hit is False


def test_convert_a_path_streams_it(
    api: ConformanceMock, client: AkribesClient, tmp_path: Path
) -> None:
    doc = tmp_path / "Minutes.DOCX"
    doc.write_bytes(b"PK\x03\x04docx")
    api.post(f"{BASE_URL}/convert", json={"markdown": "m"})
    client.convert.convert_file(doc)
    assert_file_part(only_request(api), "Minutes.DOCX", DOCX, b"PK\x03\x04docx")


def test_a_str_is_a_path(api: ConformanceMock, client: AkribesClient, tmp_path: Path) -> None:
    doc = tmp_path / "slide.png"
    doc.write_bytes(b"\x89PNG")
    api.post(f"{BASE_URL}/convert", json={"markdown": "m"})
    client.convert.convert_file(str(doc), filename="renamed.jpg")
    assert_file_part(only_request(api), "renamed.jpg", "image/jpeg", b"\x89PNG")


def test_convert_a_file_object(api: ConformanceMock, client: AkribesClient, tmp_path: Path) -> None:
    doc = tmp_path / "page.htm"
    doc.write_bytes(b"<h1>Hi</h1>")
    api.post(f"{BASE_URL}/convert", json={"markdown": "# Hi"})
    with doc.open("rb") as f:
        client.convert.convert_file(f)
    assert_file_part(only_request(api), "page.htm", "text/html", b"<h1>Hi</h1>")


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("a.pdf", "application/pdf"),
        ("a.doc", "application/msword"),
        ("a.docx", DOCX),
        (
            "a.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        ("a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("a.html", "text/html"),
        ("a.png", "image/png"),
        ("a.jpeg", "image/jpeg"),
        ("a.TIF", "image/tiff"),
        ("a.tiff", "image/tiff"),
        ("notes.txt", "application/octet-stream"),
        ("pdf", "application/octet-stream"),
        ("archive.tar.gz", "application/octet-stream"),
    ],
)
def test_mime_type_from_the_extension(
    api: ConformanceMock, client: AkribesClient, filename: str, content_type: str
) -> None:
    api.post(f"{BASE_URL}/convert", json={"markdown": "m"})
    client.convert.convert_file(io.BytesIO(b"x"), filename=filename)
    assert_file_part(only_request(api), filename, content_type, b"x")


def test_convert_for_project(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects/{PID}/convert", json={**RESULT, "cache_hit": True})
    result = client.convert.convert_file_for_project(PID, PDF, filename="report.pdf")
    request = only_request(api)
    assert request.url == f"{BASE_URL}/projects/{PID}/convert"
    assert_file_part(request, "report.pdf", "application/pdf", PDF)
    assert result.cache_hit is True


def test_project_scope_convert_file(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects/{PID}/convert", json=RESULT)
    result = client.project(PID).convert_file(PDF, filename="report.pdf")
    assert only_request(api).url == f"{BASE_URL}/projects/{PID}/convert"
    assert result.filename == "report.pdf"


def test_convert_for_a_missing_project(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects/99/convert", status=404, json={"error": "no project"})
    with pytest.raises(NotFoundError):
        client.convert.convert_file_for_project(99, PDF, filename="a.pdf")


def test_conversion_failed(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(
        f"{BASE_URL}/convert",
        status=502,
        json={
            "error_type": "conversion_failed",
            "error": "docling gave up",
            "reason": "service_unavailable",
            "attempts": 3,
        },
    )
    with pytest.raises(DocumentConversionError, match="docling gave up") as info:
        client.convert.convert_file(PDF, filename="a.pdf")
    assert info.value.reason == "service_unavailable"
    assert info.value.details == {"reason": "service_unavailable", "attempts": 3}
    assert len(api.calls) == 1  # a multipart POST is not retried


class _TextFile(io.StringIO):
    name = "a.pdf"


@pytest.mark.parametrize(
    ("file", "kwargs"),
    [
        (PDF, {}),  # bytes need a filename
        (bytearray(PDF), {"filename": ""}),
        (io.BytesIO(PDF), {}),  # no name to take one from
        (_TextFile("text"), {}),
        ("/no/such/file.pdf", {}),
        (12, {"filename": "a.pdf"}),
        (None, {"filename": "a.pdf"}),
    ],
)
def test_bad_files_send_nothing(
    api: ConformanceMock, client: AkribesClient, file: Any, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.convert.convert_file(file, **kwargs)
    with pytest.raises(InvalidArgumentError):
        client.convert.convert_file_for_project(PID, file, **kwargs)
    assert len(api.calls) == 0


def test_a_directory_is_not_a_file(
    api: ConformanceMock, client: AkribesClient, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.convert.convert_file(tmp_path)
    with pytest.raises(InvalidArgumentError):
        client.convert.convert_file_for_project("7", PDF, filename="a.pdf")
    assert len(api.calls) == 0
