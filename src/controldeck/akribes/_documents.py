"""A project's documents (`client.project(pid).documents`): claim, upload, ingest, progress.

Documents are deduplicated by content: `claim` asks whether the server already has bytes
with a given SHA-256, `upload` sends them, and `ingest` does both and waits for the
conversion, as the Python peer does (reference §5, §8.8): hash (streamed from disk),
claim, upload on a miss, then re-claim with backoff 0.25 s doubling to 2 s until the
conversion is done.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias, TypedDict, Unpack

from controldeck._core._bodies import BLOCK_SIZE, MultipartBody, Part
from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_str
from controldeck._core._wait import wait_for
from controldeck.akribes._base import ProjectResource, document_source, segment
from controldeck.errors import (
    ControlDeckError,
    InvalidArgumentError,
    ResponseValidationError,
)

if TYPE_CHECKING:
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        ClaimHit,
        ClaimMiss,
        ConversionStatus,
        ProgressConverting,
        UnknownClaimResponse,
        UploadResult,
    )
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = [
    "DocumentIngestError",
    "DocumentsClient",
    "FileInput",
    "IngestOptions",
    "IngestResult",
]

FileInput: TypeAlias = "str | os.PathLike[str] | bytes | IO[bytes]"
"""A document: a path (streamed from disk), its bytes, or a binary file object (read whole)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Conversion states worth waiting on, and the ones that end a wait well.
_IN_PROGRESS = frozenset({"converting", "pending"})
_DONE = frozenset({"ready", "text"})
# Re-claim backoff while a conversion runs (R/sub/documents.rs:124-188, P/resources/documents.py).
_FIRST_POLL = 0.25
_POLL_BACKOFF = 2.0
_MAX_POLL = 2.0


class IngestOptions(TypedDict, total=False):
    """The per-call options of `ingest`: `CallOptions` without `timeout`, which there
    bounds the wait for the conversion."""

    deadline: float | None
    max_retries: int
    extra_headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """A document the server holds, converted.

    Attributes:
        document_id: The document's id (pass it as a run input).
        filename: The name it was claimed or uploaded under.
        content_hash: SHA-256 of its bytes, lowercase hex.
        conversion_status: `ready` or `text`.
        deduplicated: True when the server already had these bytes (nothing was uploaded).

    Example:
        >>> doc = client.project(7).documents.ingest("report.pdf")
        >>> doc.document_id, doc.deduplicated
        ('doc_0f8e', False)
    """

    document_id: str
    filename: str
    content_hash: str
    conversion_status: ConversionStatus
    deduplicated: bool


class DocumentIngestError(ControlDeckError):
    """The server could not convert a document (its conversion status is `failed`).

    Attributes:
        document_id: The document.
        reason: The server's `conversion_error`, when it gave one.

    Example:
        >>> try:
        ...     documents.ingest("scan.tiff")
        ... except DocumentIngestError as exc:
        ...     print(exc.document_id, exc.reason)
    """

    def __init__(self, document_id: str, reason: str | None = None) -> None:
        self.document_id = document_id
        self.reason = reason
        why = f": {reason[:300]}" if reason else ""
        super().__init__(f"document {document_id}: conversion failed{why}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.document_id, self.reason))


def _content_hash(value: Any) -> str:
    text = require_str("content_hash", value).lower()
    if not _SHA256.fullmatch(text):
        raise InvalidArgumentError(
            f"content_hash must be a SHA-256 in hex (64 characters), got {value!r:.80}"
        )
    return text


def _sha256(source: Path | bytes) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    try:
        with source.open("rb") as f:
            while block := f.read(BLOCK_SIZE):
                digest.update(block)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {source.name!r}: {exc.strerror}") from None
    return digest.hexdigest()


def _positive_seconds(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < float("inf")
    ):
        raise InvalidArgumentError(f"{name} must be positive seconds, got {value!r:.40}")
    return float(value)


class DocumentsClient(ProjectResource):
    """A project's documents (`client.project(pid).documents`).

    Example:
        >>> doc = client.project(7).documents.ingest("report.pdf")
        >>> client.project(7).executions.run("summarise", inputs={"doc": doc.document_id})
    """

    # Injected by tests: the waits between re-claims and the clock their deadline reads.
    _sleep: Callable[[float], object] = staticmethod(time.sleep)
    _clock: Callable[[], float] = staticmethod(time.monotonic)

    def progress(
        self, content_hash: str, **options: Unpack[CallOptions]
    ) -> ProgressConverting | None:
        """Page progress of the conversion of the bytes with this hash.

        Args:
            content_hash: SHA-256 of the document's bytes, hex.

        Returns:
            `done_pages`/`total_pages` while converting; None when no conversion runs
            (idle, a state this version does not know, or 404).

        Example:
            >>> p = documents.progress(digest)
            >>> p and f"{p.done_pages}/{p.total_pages}"
            '3/10'
        """
        path = self._path("documents", "by-hash", _content_hash(content_hash), "progress")
        union: Any = models.ProgressResponse  # a tagged union alias, not a class
        found = self._client._get_or_none(path, union, **options)
        return found if isinstance(found, models.ProgressConverting) else None

    def claim(
        self, content_hash: str, filename: str, **options: Unpack[CallOptions]
    ) -> ClaimHit | ClaimMiss | UnknownClaimResponse:
        """Ask whether the server already has these bytes (deduplication before upload).

        Args:
            content_hash: SHA-256 of the bytes, hex.
            filename: The document's name.

        Returns:
            `ClaimHit` (`document_id`, `conversion_status`...) when it has them,
            `ClaimMiss` when they must be uploaded.

        Example:
            >>> claim = documents.claim(hashlib.sha256(data).hexdigest(), "a.pdf")
            >>> claim.status
            'miss'
        """
        body = models.ClaimRequest(
            content_hash=_content_hash(content_hash), filename=require_str("filename", filename)
        )
        union: Any = models.ClaimResponse  # a tagged union alias, not a class
        reply: ClaimHit | ClaimMiss | UnknownClaimResponse = self._client._post(
            self._path("documents", "claim"), union, json=body, **options
        )
        return reply

    def upload(
        self, file: FileInput, *, filename: str | None = None, **options: Unpack[CallOptions]
    ) -> UploadResult:
        """Upload a document for conversion (multipart part `file`, streamed from disk).

        Args:
            file: A path, the bytes, or a binary file object.
            filename: The name to announce (default: the path's or file's base name;
                required for bytes).

        Returns:
            The document's id, hash and conversion status (often still `converting`).

        Raises:
            InvalidArgumentError: No such file, or bytes without `filename`.

        Example:
            >>> documents.upload(Path("report.pdf")).document_id
        """
        source, name = document_source(file, filename)
        return self._upload(source, name, **options)

    def _upload(
        self, source: Path | bytes, filename: str, **options: Unpack[CallOptions]
    ) -> UploadResult:
        part = Part("file", source, filename=filename, content_type="application/octet-stream")
        return self._client._post(
            self._path("documents"), models.UploadResult, body=MultipartBody([part]), **options
        )

    def status(self, document_id: str, **options: Unpack[CallOptions]) -> ConversionStatus:
        """A document's conversion status (`GET /documents/{document_id}`).

        Raises:
            NotFoundError: There is no such document.

        Example:
            >>> documents.status("doc_0f8e")
            <ConversionStatus.READY: 'ready'>
        """
        path = f"/documents/{segment('document_id', document_id)}"
        return self._client._get(path, models.DocumentMeta, **options).conversion_status

    def ingest(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        timeout: float | None = None,
        progress: bool | None = None,
        **options: Unpack[IngestOptions],
    ) -> IngestResult:
        """Make sure the server has a document, converted, uploading it only if needed.

        Hashes the bytes (streamed from disk), claims them, uploads on a miss, then
        re-claims with backoff (0.25 s doubling to 2 s) until the conversion is done. A
        re-claim that misses (the server dropped the document) uploads it again.

        Args:
            file: A path, the bytes, or a binary file object.
            filename: The name to announce (default: the base name; required for bytes).
            timeout: Seconds to wait for the conversion (default: the client's
                `ingest_poll_timeout`).
            progress: Show a progress bar (None: only on an interactive terminal).
            **options: `deadline=`, `max_retries=`, `extra_headers=` for each request
                (`timeout=` here is the wait; each request uses the client's timeout).

        Returns:
            The document, converted (`ready` or `text`).

        Raises:
            InvalidArgumentError: No such file, bytes without `filename`, a bad timeout.
            DocumentIngestError: The conversion failed.
            WaitTimeoutError: Still converting after `timeout` seconds.
            ResponseValidationError: A claim or status this version does not know.

        Example:
            >>> doc = client.project(7).documents.ingest("report.pdf", timeout=120)
            >>> doc.conversion_status
            <ConversionStatus.READY: 'ready'>
        """
        source, name = document_source(file, filename)
        limit = (
            self._client.ingest_poll_timeout
            if timeout is None
            else _positive_seconds("timeout", timeout)
        )
        digest = _sha256(source)

        def current() -> ClaimHit | UploadResult:
            claim = self.claim(digest, name, **options)
            if isinstance(claim, models.ClaimHit):
                return claim
            if isinstance(claim, models.ClaimMiss):
                return self._upload(source, name, **options)
            raise ResponseValidationError(
                f"claim of {name!r} answered status {claim.raw.get('status')!r}, "
                "which this version does not know",
                path="$.status",
            )

        first = current()
        deduplicated = isinstance(first, models.ClaimHit)
        # The first state is already known; the wait re-claims only after its first pause.
        known: list[ClaimHit | UploadResult] = [first]

        def fetch() -> ClaimHit | UploadResult:
            return known.pop() if known else current()

        def is_done(state: ClaimHit | UploadResult) -> bool:
            status = str(state.conversion_status)
            if status == "failed":
                raise DocumentIngestError(state.document_id, self._failure(state, **options))
            if status in _DONE:
                return True
            if status in _IN_PROGRESS:
                return False
            raise ResponseValidationError(
                f"document {state.document_id} has conversion_status {status!r}, "
                "which this version does not know",
                path="$.conversion_status",
            )

        done = wait_for(
            fetch,
            is_done,
            timeout=limit,
            poll_interval=_FIRST_POLL,
            backoff=_POLL_BACKOFF,
            max_interval=_MAX_POLL,
            what=f"conversion of {name!r}",
            describe=lambda state: state.conversion_status,
            progress=progress,
            clock=self._clock,
            sleep=self._sleep,
        )
        return IngestResult(
            document_id=done.document_id,
            filename=done.filename,
            content_hash=done.content_hash,
            conversion_status=done.conversion_status,
            deduplicated=deduplicated,
        )

    def _failure(
        self, state: ClaimHit | UploadResult, **options: Unpack[IngestOptions]
    ) -> str | None:
        """The server's conversion error for a failed document, if it says (best effort)."""
        path = f"/documents/{segment('document_id', state.document_id)}"
        try:
            meta = self._client._get(path, models.DocumentMeta, **options)
        except ControlDeckError:
            return None
        return meta.conversion_error
