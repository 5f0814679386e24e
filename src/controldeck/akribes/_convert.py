"""Document conversion to markdown (`client.convert`).

The document goes as one multipart part named `file`, with its filename and a MIME type
guessed from the extension as upstream does (reference §2). A path is streamed from disk;
bytes and file objects are sent from memory.
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any, Unpack

from controldeck._core._bodies import MultipartBody, Part
from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions
from controldeck.akribes._base import Resource, document_source, project_id_of

if TYPE_CHECKING:
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import ConvertResult
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["ConvertClient"]

# Upstream's table (R/sub/convert.rs:58-72): the types the server's converter reads.
_MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "htm": "text/html",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
    "tif": "image/tiff",
}

DocumentSource = str | os.PathLike[str] | bytes | IO[bytes]


def _mime_type_for(filename: str) -> str:
    """The MIME type the server expects for a filename's extension.

    Args:
        filename: The document's name.

    Returns:
        The type from the extension (case-insensitive), else `application/octet-stream`
        (also for a name without an extension).

    Example:
        >>> _mime_type_for("Report.PDF")
        'application/pdf'
    """
    # Upstream takes a name without a dot as its own extension; here it has none.
    _, dot, extension = filename.rpartition(".")
    return _MIME_TYPES.get(extension.lower() if dot else "", "application/octet-stream")


def _file_part(file: Any, filename: str | None) -> Part:
    """The `file` part, typed from the filename's extension as upstream does."""
    content, name = document_source(file, filename)
    return Part("file", content, filename=name, content_type=_mime_type_for(name))


class ConvertClient(Resource):
    """Document conversion to markdown (PDF, Word, PowerPoint, Excel, HTML, images).

    Example:
        >>> client.convert.convert_file("report.pdf").markdown[:20]
        '# Quarterly report\\n\\n'
    """

    def convert_file(
        self,
        file: DocumentSource,
        *,
        filename: str | None = None,
        **options: Unpack[CallOptions],
    ) -> ConvertResult:
        """Convert a document to markdown (`POST /convert`).

        Args:
            file: A path (`str` or `os.PathLike`, streamed from disk), the bytes, or a
                file object opened in binary mode.
            filename: The name to send; the MIME type comes from its extension. Defaults
                to the path's or file object's base name; required with bytes.

        Returns:
            The markdown, and the stored document's id when the server keeps one.

        Raises:
            InvalidArgumentError: A missing or unreadable path, a text-mode file, or bytes
                without a filename.
            DocumentConversionError: The server could not convert it (502, `.reason`).

        Example:
            >>> client.convert.convert_file(b"%PDF-1.7...", filename="a.pdf").markdown
            '# A\\n'
        """
        body = MultipartBody([_file_part(file, filename)])
        return self._client._post("/convert", models.ConvertResult, body=body, **options)

    def convert_file_for_project(
        self,
        project_id: int,
        file: DocumentSource,
        *,
        filename: str | None = None,
        **options: Unpack[CallOptions],
    ) -> ConvertResult:
        """Convert a document within a project (the server enforces the token's scope).

        Same as `client.project(project_id).convert_file(file, filename=...)`.

        Args:
            project_id: The project.
            file: A path (`str` or `os.PathLike`, streamed from disk), the bytes, or a
                file object opened in binary mode.
            filename: The name to send; the MIME type comes from its extension. Defaults
                to the path's or file object's base name; required with bytes.

        Returns:
            The markdown; `cache_hit` says whether the project had converted it before.

        Raises:
            InvalidArgumentError: A bad project id, a missing or unreadable path, a
                text-mode file, or bytes without a filename.
            NotFoundError: No such project.
            DocumentConversionError: The server could not convert it (502, `.reason`).

        Example:
            >>> client.convert.convert_file_for_project(7, Path("deck.pptx")).document_id
            'doc_0f8e'
        """
        pid = project_id_of(project_id)
        body = MultipartBody([_file_part(file, filename)])
        return self._client._post(
            f"/projects/{pid}/convert", models.ConvertResult, body=body, **options
        )
