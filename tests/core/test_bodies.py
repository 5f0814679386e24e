"""Request body kinds and reply decoding, without a network: exact bytes, validation, logs."""

from __future__ import annotations

import email.parser
import email.policy
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from controldeck import APIConnectionError, InvalidArgumentError, ResponseValidationError
from controldeck._core._bodies import (
    BLOCK_SIZE,
    BodyReader,
    ContentBody,
    FileBody,
    FormBody,
    JsonBody,
    MultipartBody,
    Part,
    RequestBody,
    charset_of,
    content_body,
)
from controldeck._core._downloads import Download, read_bytes, read_text


def _send_bytes(body: RequestBody) -> bytes:
    """What one attempt would put on the wire, read the way urllib3 reads it."""
    with body.payload() as data:
        if isinstance(data, bytes):
            return data
        assert len(data) == body.length
        blocks = list(iter(lambda: data.read(16384), b""))
        assert all(0 < len(b) <= 16384 for b in blocks)
        return b"".join(blocks)


def _parse_multipart(body: MultipartBody) -> list[EmailMessage]:
    raw = f"Content-Type: {body.content_type}\r\n\r\n".encode() + _send_bytes(body)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    assert message.is_multipart() and not message.defects
    return [p for p in message.iter_parts() if isinstance(p, EmailMessage)]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.bin"
    # Longer than one block, with a tail that is not block aligned.
    path.write_bytes(bytes(range(256)) * 300 + b"tail")
    return path


# -- JSON, raw content, forms -----------------------------------------------------------------


def test_json_body_sends_the_given_bytes_every_time() -> None:
    body = JsonBody(b'{"name":"x\xc3\xa9"}')
    assert body.content_type == "application/json"
    assert body.length == 14
    assert _send_bytes(body) == _send_bytes(body) == b'{"name":"x\xc3\xa9"}'
    assert body.describe() == repr(body) == "<json: 14 B>"


def test_json_body_rejects_text() -> None:
    with pytest.raises(InvalidArgumentError, match="JSON body must be bytes, got str"):
        JsonBody('{"a":1}')  # type: ignore[arg-type]


def test_text_content_is_utf8_and_text_types_get_a_charset() -> None:
    body = ContentBody("name: café\n", "text/plain")
    assert body.content_type == "text/plain; charset=utf-8"
    assert _send_bytes(body) == b"name: caf\xc3\xa9\n"
    assert body.describe() == "<text/plain: 12 B>"


def test_text_content_for_a_non_text_type_gets_no_charset() -> None:
    body = ContentBody("a: 1\n", "application/x-yaml")
    assert body.content_type == "application/x-yaml"
    assert body.content == b"a: 1\n"


def test_text_content_uses_the_declared_charset() -> None:
    body = ContentBody("café", "text/plain; charset=ISO-8859-1")
    assert body.content_type == "text/plain; charset=ISO-8859-1"
    assert body.content == b"caf\xe9"


def test_text_that_the_declared_charset_cannot_hold_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be encoded as ascii"):
        ContentBody("café", "text/plain; charset=ascii")
    with pytest.raises(InvalidArgumentError, match="unknown charset 'klingon'"):
        ContentBody("x", "text/plain; charset=klingon")


def test_bytes_content_is_sent_untouched_without_a_charset() -> None:
    body = ContentBody(bytearray(b"\x00asm\x01"), "text/plain")
    assert body.content_type == "text/plain"
    assert body.content == b"\x00asm\x01"


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("plain", "must be a media type"),
        ("", "must be a media type"),
        ("text/plain\r\nX-Evil: 1", "holds a line break"),
        ("text/plaín", "must be a media type"),
        (b"text/plain", "must be a string, got bytes"),
    ],
)
def test_bad_content_types_are_rejected(content_type: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ContentBody(b"x", content_type)


def test_content_of_a_wrong_type_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="content must be bytes, got int"):
        ContentBody(3, "text/plain")  # type: ignore[arg-type]


def test_form_body_from_a_mapping_and_from_pairs() -> None:
    body = FormBody({"grant_type": "refresh_token", "scope": "a b&c=é"})
    assert body.content_type == "application/x-www-form-urlencoded"
    assert body.content == b"grant_type=refresh_token&scope=a+b%26c%3D%C3%A9"
    repeated = FormBody([("tag", "x"), ("tag", "y")])
    assert repeated.content == b"tag=x&tag=y"
    assert repeated.describe() == "<form: 2 fields, 11 B>"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("a=b", "must be a mapping or"),
        ({"": "x"}, "form field 0 name must not be empty"),
        ({"n": 1}, "form field 'n' must be a string, got int"),
        ([("a", "b", "c")], "form field 0 must be a \\(name, value\\) pair"),
    ],
)
def test_bad_form_fields_are_rejected(fields: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        FormBody(fields)


def test_form_body_never_shows_its_values() -> None:
    body = FormBody({"refresh_token": "s3cr3t-value"})
    assert "s3cr3t" not in repr(body)
    assert "s3cr3t" not in body.describe()


# -- files -----------------------------------------------------------------------------------


def test_file_body_streams_the_file_in_bounded_blocks(data_file: Path) -> None:
    body = FileBody(data_file, "application/wasm")
    assert body.length == 76804
    assert body.content_type == "application/wasm"
    assert _send_bytes(body) == data_file.read_bytes()
    assert body.describe() == "<file input.bin: 75 KiB>"
    with body.payload() as reader:
        assert isinstance(reader, BodyReader)
        assert len(reader.read(10**9)) == BLOCK_SIZE  # never more than a block at once


def test_each_payload_starts_again_from_the_beginning(data_file: Path) -> None:
    body = FileBody(str(data_file))
    with body.payload() as first:
        assert isinstance(first, BodyReader)
        first.read(100)
    assert _send_bytes(body) == data_file.read_bytes()


def test_leaving_the_payload_closes_the_file(data_file: Path) -> None:
    with FileBody(data_file).payload() as reader:
        assert isinstance(reader, BodyReader)
        files = list(reader._files)
    assert files and all(f.closed for f in files)


def test_an_empty_file_is_sent_as_empty_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with FileBody(empty).payload() as data:
        assert data == b""


def test_missing_file_directory_and_wrong_types_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"cannot read .*nope.*No such file"):
        FileBody(tmp_path / "nope")
    with pytest.raises(InvalidArgumentError, match="is a directory, not a file"):
        FileBody(tmp_path)
    with pytest.raises(InvalidArgumentError, match="path must be a path, got bytes"):
        FileBody(b"data")  # type: ignore[arg-type]


def test_a_file_that_is_not_regular_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="is not a regular file"):
        FileBody("/dev/null")


def test_a_file_that_changed_size_before_an_attempt_fails_before_sending(
    data_file: Path,
) -> None:
    body = FileBody(data_file)
    data_file.write_bytes(b"short")
    with pytest.raises(InvalidArgumentError, match=r"changed size since .* \(76804 -> 5 bytes\)"):
        body.payload()


def test_a_file_deleted_before_an_attempt_fails_before_sending(data_file: Path) -> None:
    body = FileBody(data_file)
    data_file.unlink()
    with pytest.raises(InvalidArgumentError, match=r"cannot open .*No such file"):
        body.payload()


def test_a_file_that_shrinks_while_sent_aborts_the_upload(data_file: Path) -> None:
    with FileBody(data_file).payload() as reader:
        assert isinstance(reader, BodyReader)
        reader.read(1000)
        os.truncate(data_file, 2000)
        reader.read(1000)
        with pytest.raises(APIConnectionError, match="changed size while it was being sent"):
            reader.read(1000)


def test_a_file_that_grows_while_sent_aborts_the_upload(data_file: Path) -> None:
    with FileBody(data_file).payload() as reader:
        assert isinstance(reader, BodyReader)
        assert len(reader.read(BLOCK_SIZE)) == BLOCK_SIZE
        with data_file.open("ab") as f:
            f.write(b"more")
        assert len(reader.read(BLOCK_SIZE)) == 76804 - BLOCK_SIZE
        with pytest.raises(APIConnectionError, match="expected 76804 bytes"):
            reader.read(BLOCK_SIZE)


def test_content_body_picks_a_file_only_for_a_path(data_file: Path) -> None:
    assert isinstance(content_body(data_file, "application/octet-stream"), FileBody)
    text = content_body(str(data_file), "text/plain")
    assert isinstance(text, ContentBody)
    assert text.content == str(data_file).encode()
    assert isinstance(content_body(b"\x00asm", "application/octet-stream"), ContentBody)


def test_reader_reads_everything_when_asked_for_all(data_file: Path) -> None:
    with MultipartBody([Part("f", data_file)], boundary="b").payload() as reader:
        assert isinstance(reader, BodyReader)
        assert reader.read(0) == b""
        everything = reader.read()
        assert len(everything) == len(reader)
        assert reader.read() == b""


# -- multipart -------------------------------------------------------------------------------


def test_multipart_golden_bytes() -> None:
    body = MultipartBody(
        [
            Part("doc", b"%PDF", filename="a.pdf"),
            Part("_meta", '{"triggered_by":"me"}', content_type="application/json"),
            Part("note", "héllo"),
        ],
        boundary="BOUNDARY",
    )
    expected = (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="doc"; filename="a.pdf"\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"\r\n"
        b"%PDF\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="_meta"\r\n'
        b"Content-Type: application/json\r\n"
        b"\r\n"
        b'{"triggered_by":"me"}\r\n'
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="note"\r\n'
        b"\r\n"
        b"h\xc3\xa9llo\r\n"
        b"--BOUNDARY--\r\n"
    )
    assert body.content_type == "multipart/form-data; boundary=BOUNDARY"
    assert body.length == len(expected)
    assert _send_bytes(body) == expected
    assert body.describe() == "<multipart: 3 parts (doc, _meta, note), 318 B>"


def test_multipart_names_cannot_break_out_of_their_header() -> None:
    body = MultipartBody(
        [Part('a"b\r\nX-Evil: 1', b"x", filename='ré"sumé\n.pdf', content_type="text/csv")],
        boundary="B",
    )
    assert _send_bytes(body) == (
        b"--B\r\n"
        b'Content-Disposition: form-data; name="a%22b%0D%0AX-Evil: 1"; '
        b'filename="r\xc3\xa9%22sum\xc3\xa9%0A.pdf"\r\n'
        b"Content-Type: text/csv\r\n"
        b"\r\n"
        b"x\r\n"
        b"--B--\r\n"
    )
    assert "\n" not in body.describe()


def test_multipart_streams_files_and_parses_back(data_file: Path) -> None:
    body = MultipartBody(
        [
            Part("doc", data_file),
            Part("scan", data_file, filename="scan.tiff", content_type="image/tiff"),
            Part("_meta", '{"triggered_by":"sdk"}', content_type="application/json"),
        ]
    )
    parts = _parse_multipart(body)
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "doc",
        "scan",
        "_meta",
    ]
    assert [p.get_filename() for p in parts] == ["input.bin", "scan.tiff", None]
    assert [p.get_content_type() for p in parts] == [
        "application/octet-stream",
        "image/tiff",
        "application/json",
    ]
    assert parts[0].get_payload(decode=True) == data_file.read_bytes()
    assert parts[1].get_payload(decode=True) == data_file.read_bytes()
    assert parts[2].get_payload(decode=True) == b'{"triggered_by":"sdk"}'
    assert body.describe() == "<multipart: 3 parts (doc, scan, _meta), 150.5 KiB>"


def test_multipart_boundaries_are_random_per_body_and_kept_per_attempt() -> None:
    first = MultipartBody([Part("a", b"x")])
    second = MultipartBody([Part("a", b"x")])
    assert first.boundary != second.boundary
    assert first.boundary.startswith("controldeck-") and len(first.boundary) == 44
    assert _send_bytes(first) == _send_bytes(first)


def test_multipart_part_names_are_summarised_in_logs() -> None:
    body = MultipartBody([Part(f"input_{i:02}", b"") for i in range(20)])
    assert body.describe().startswith("<multipart: 20 parts (input_00, input_01, ")
    assert "…), " in body.describe()
    assert MultipartBody([Part("one", b"x")]).describe().startswith("<multipart: 1 part (one)")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Part("", b"x"), "part name must not be empty"),
        (lambda: Part(3, b"x"), "part name must be a string, got int"),
        (lambda: Part("a", 3), "content of part 'a' must be str, bytes or a path"),
        (lambda: Part("a", b"x", filename=""), "filename of part 'a' must not be empty"),
        (lambda: Part("a", b"x", content_type="bad"), "content_type of part 'a' must be"),
        (lambda: MultipartBody([]), "needs at least one part"),
        (lambda: MultipartBody(Part("a", b"x")), "parts must be a list of Part, got Part"),
        (lambda: MultipartBody([("a", b"x")]), "parts\\[0\\] must be a Part, got tuple"),
        (lambda: MultipartBody([Part("a", b"x")], boundary="a b"), "boundary must be"),
        (lambda: MultipartBody([Part("a", b"x")], boundary="x" * 71), "boundary must be"),
    ],
)
def test_bad_multipart_arguments_are_rejected(make: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        make()


def test_a_directory_part_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"part 'doc': .* is a directory"):
        Part("doc", tmp_path)


def test_part_repr_never_shows_contents(data_file: Path) -> None:
    assert repr(Part("doc", data_file)) == (
        "<Part doc: file input.bin, application/octet-stream, 75 KiB>"
    )
    assert repr(Part("_meta", '{"token":"s3cr3t"}')) == "<Part _meta: text, 18 B>"


def test_multipart_file_handles_are_closed_even_when_a_later_file_is_gone(
    tmp_path: Path, data_file: Path
) -> None:
    gone = tmp_path / "gone.bin"
    gone.write_bytes(b"x")
    body = MultipartBody([Part("a", data_file), Part("b", gone)])
    gone.unlink()
    # The first file was already opened: filterwarnings=error would catch it leaking.
    with pytest.raises(InvalidArgumentError, match=r"gone\.bin"):
        body.payload()


def test_sizes_in_descriptions() -> None:
    assert JsonBody(b"x" * 1023).describe() == "<json: 1023 B>"
    assert JsonBody(b"x" * 1024).describe() == "<json: 1 KiB>"
    assert JsonBody(b"x" * (10 * 1024 * 1024)).describe() == "<json: 10 MiB>"
    assert JsonBody(b"x" * 1536 * 1024).describe() == "<json: 1.5 MiB>"


# -- replies ---------------------------------------------------------------------------------


def _reply(content: bytes, content_type: str | None = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = content
    response._content_consumed = True
    response.url = "http://127.0.0.1:1/api/metrics?token=s3cr3t"
    request = requests.Request("GET", response.url).prepare()
    response.request = request
    if content_type is not None:
        response.headers["Content-Type"] = content_type
    response.headers.update(headers)
    return response


@pytest.mark.parametrize(
    ("content", "content_type", "text"),
    [
        (b"caf\xc3\xa9", None, "café"),
        (b"caf\xc3\xa9", "text/plain; version=0.0.4", "café"),
        (b"caf\xe9", "text/plain; charset=ISO-8859-1", "café"),
        (b"caf\xe9", 'text/plain; charset="latin-1"; version=0.0.4', "café"),
    ],
)
def test_read_text_uses_the_declared_charset_or_utf8(
    content: bytes, content_type: str | None, text: str
) -> None:
    assert read_text(_reply(content, content_type)) == text


def test_read_text_rejects_bytes_that_are_not_in_the_charset() -> None:
    with pytest.raises(ResponseValidationError) as info:
        read_text(_reply(b"caf\xe9", "text/plain", **{"X-Request-Id": "req-1"}))
    assert str(info.value) == (
        "GET http://127.0.0.1:1/api/metrics: the reply is not valid utf-8 text (byte 3)"
    )
    assert info.value.request_id == "req-1"
    assert info.value.status_code == 200


def test_read_text_rejects_an_unknown_charset() -> None:
    with pytest.raises(ResponseValidationError, match="unknown charset 'klingon'"):
        read_text(_reply(b"x", "text/plain; charset=klingon"))


def test_read_bytes_checks_the_content_length() -> None:
    assert read_bytes(_reply(b"\x00asm", "application/wasm")) == b"\x00asm"
    with pytest.raises(APIConnectionError) as info:
        read_bytes(_reply(b"\x00asm", "application/wasm", **{"Content-Length": "10"}))
    assert str(info.value) == (
        "GET http://127.0.0.1:1/api/metrics: the reply body ended after 4 of 10 bytes "
        "(Content-Length)"
    )


def test_compressed_replies_are_not_held_to_the_compressed_length() -> None:
    reply = _reply(b"decoded and longer", None, **{"Content-Length": "5"})
    reply.headers["Content-Encoding"] = "gzip"
    assert read_bytes(reply) == b"decoded and longer"


def test_charset_of() -> None:
    assert charset_of('text/plain; charset="UTF-8"') == "utf-8"
    assert charset_of("text/plain") is None


# -- download destinations -------------------------------------------------------------------


def test_download_destinations_are_checked_before_sending(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="is a directory"):
        Download(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"directory .*missing.* does not exist"):
        Download(tmp_path / "missing" / "out.wasm")
    with pytest.raises(InvalidArgumentError, match="binary mode"), (tmp_path / "t").open("w") as f:
        Download(f)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="a path or a binary file, got int"):
        Download(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        Download("")


def test_download_of_an_in_memory_reply_to_a_file_object() -> None:
    sink = _Sink()
    assert Download(sink).save(_reply(b"abc" * 100000)) == 300000
    assert b"".join(sink) == b"abc" * 100000
    assert max(len(c) for c in sink) == BLOCK_SIZE


class _Sink(list[bytes]):
    def write(self, data: bytes) -> int:
        self.append(data)
        return len(data)
