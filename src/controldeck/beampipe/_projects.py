"""Beampipe health, readiness, metrics, diagnostics, the operator overview, the OpenAPI
document, project configs (YAML, versioned), their WASM modules, and projects.

Reference §5.1 and §5.5. The project config is sent as raw YAML text and the WASM module
as raw bytes; both stream from disk when given a path. `metrics()` returns the Prometheus
text as the server sent it; `parse_metrics()` (in `_metrics`) turns it into samples.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, overload

from controldeck._core._bodies import ContentBody, FileBody, RequestBody
from controldeck._core._downloads import Download, Writable
from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions
from controldeck._core._pagination import Page
from controldeck._core._validate import require_str
from controldeck.beampipe._base import API, BeampipeBase, name_id
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._generated import beampipe as models
    from controldeck._generated.beampipe import (
        DiagnosticsResponse,
        HealthResponse,
        HealthTapResponse,
        OperatorOverviewResponse,
        ProjectConfigRow,
        ProjectListItem,
        ProvenanceEventResponse,
        ReadyResponse,
        ValidationReport,
        WasmInfo,
        WasmUploadResponse,
    )
else:
    models = LazyModule("controldeck._generated.beampipe")

__all__ = ["ProjectsAPI"]

YAML_CONTENT_TYPE = "text/plain; charset=utf-8"
"""What a project config is sent as (see `upload_project_config`)."""

WASM_CONTENT_TYPE = "application/octet-stream"

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def sha256_id(value: Any) -> str:
    """A WASM module's sha256 as the server stores it: 64 lower-case hex digits.

    Example:
        >>> sha256_id("AB" * 32) == "ab" * 32
        True
    """
    text = require_str("sha256", value).strip()
    if not _SHA256.fullmatch(text):
        raise InvalidArgumentError(
            f"sha256 must be 64 hex digits (the wasm_sha256 the upload returned), got {value!r:.80}"
        )
    return text.lower()


def _yaml_body(yaml: Any) -> RequestBody:
    """The body of a project config upload from text, UTF-8 bytes or a path (streamed).

    Raises:
        InvalidArgumentError: Another type, empty content, bytes that are not UTF-8, a
            one-line str that names a .yaml file, or a path that is not a readable file.
    """
    if isinstance(yaml, os.PathLike):
        body = FileBody(yaml, YAML_CONTENT_TYPE)
        if body.length == 0:
            raise InvalidArgumentError(f"yaml file {os.fspath(yaml)!r:.200} is empty")
        return body
    if isinstance(yaml, str):
        text = yaml.strip()
        if not text:
            raise InvalidArgumentError("yaml must not be empty")
        # One line, no `key: value`, ending in .yaml: a file name, which YAML would read as
        # a plain string and the server reject as a config without `metadata`.
        if "\n" not in text and ": " not in text and text.lower().endswith((".yaml", ".yml")):
            raise InvalidArgumentError(
                f"yaml {text!r:.200} looks like a file name; a str is the YAML itself: "
                "pass pathlib.Path(...) to upload a file"
            )
        return ContentBody(yaml, YAML_CONTENT_TYPE)
    if isinstance(yaml, bytes | bytearray | memoryview):
        data = bytes(yaml)
        if not data.strip():
            raise InvalidArgumentError("yaml must not be empty")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgumentError(
                f"yaml bytes must be UTF-8 (the server reads the body as UTF-8 text); "
                f"byte {exc.start} is not"
            ) from None
        return ContentBody(data, YAML_CONTENT_TYPE)
    raise InvalidArgumentError(
        f"yaml must be str, UTF-8 bytes or a path (os.PathLike), got {type(yaml).__name__}"
    )


def _wasm_body(wasm: Any) -> RequestBody:
    """The body of a WASM upload from bytes or a path (streamed).

    Raises:
        InvalidArgumentError: Another type (a str too: pass a Path), empty content, or a
            path that is not a readable file.
    """
    if isinstance(wasm, os.PathLike):
        body = FileBody(wasm, WASM_CONTENT_TYPE)
        if body.length == 0:
            raise InvalidArgumentError(f"wasm file {os.fspath(wasm)!r:.200} is empty")
        return body
    if isinstance(wasm, bytes | bytearray | memoryview):
        data = bytes(wasm)
        if not data:
            raise InvalidArgumentError("wasm must not be empty")
        return ContentBody(data, WASM_CONTENT_TYPE)
    hint = " (a str is not a module: pass pathlib.Path(...) to upload a file)"
    raise InvalidArgumentError(
        f"wasm must be bytes or a path (os.PathLike), got {type(wasm).__name__}"
        + (hint if isinstance(wasm, str) else "")
    )


class ProjectsAPI(BeampipeBase):
    """Beampipe health, readiness, metrics, diagnostics, overview, the OpenAPI document,
    project configs, WASM modules and projects."""

    # -- health and observability ----------------------------------------------------------

    def health(self, **options: Unpack[CallOptions]) -> HealthResponse:
        """Liveness (`GET /api/v2/health`); needs no token.

        Returns:
            `status` ("ok") and `service` ("beampipe-v2").

        Example:
            >>> client.health().status
            'ok'
        """
        return self._call("GET", f"{API}/health", models.HealthResponse, auth=False, **options)

    def health_tap(self, **options: Unpack[CallOptions]) -> HealthTapResponse:
        """Reachability of the CASDA and VizieR TAP services (`GET /api/v2/health/tap`);
        needs no token.

        Returns:
            A label per service: `ok`, `not_configured` or the failure the probe saw.

        Example:
            >>> client.health_tap().casda
            'ok'
        """
        return self._call(
            "GET", f"{API}/health/tap", models.HealthTapResponse, auth=False, **options
        )

    def ready(self, **options: Unpack[CallOptions]) -> ReadyResponse:
        """Readiness (`GET /api/v2/ready`): database, Redis, TAP services, job queue.

        Unlike the seed guide says, the server requires a token here.

        Returns:
            The dependency states and the queue depth and running job count.

        Raises:
            InternalServerError: PostgreSQL (or Redis, in fail-closed mode) is down (503).

        Example:
            >>> client.ready().database
            'ok'
        """
        return self._get(f"{API}/ready", models.ReadyResponse, **options)

    def metrics(self, **options: Unpack[CallOptions]) -> str:
        """The Prometheus metrics (`GET /api/v2/metrics`) as the text the server sent.

        The server asks for a token unless it runs with `BEAMPIPE_METRICS_PUBLIC=true`; the
        client sends one. Parse the text with `controldeck.beampipe.parse_metrics()`.

        Returns:
            The exposition text (format 0.0.4).

        Raises:
            ResponseValidationError: The body is not valid text in its declared charset.

        Example:
            >>> from controldeck.beampipe import parse_metrics
            >>> samples = parse_metrics(client.metrics())
            >>> {s.name for s in samples} >= {"beampipe_jobs_running"}
            True
        """
        return self._get_text(f"{API}/metrics", **options)

    def diagnostics(
        self, profile: str | None = None, **options: Unpack[CallOptions]
    ) -> DiagnosticsResponse:
        """The server's self-checks (`GET /api/v2/diagnostics`): database and migrations,
        security settings, TAP services, workers, DALiuGE and the scheduler.

        Args:
            profile: A deployment profile name whose DALiuGE and Slurm endpoints to probe
                (default: the server's own settings).

        Returns:
            `healthy` (no error-severity diagnostic), `generated_at` and each diagnostic.

        Example:
            >>> report = client.diagnostics(profile="setonix")
            >>> [d.code for d in report.diagnostics if d.severity == "error"]
            []
        """
        if profile is not None:
            require_str("profile", profile)
        return self._get(
            f"{API}/diagnostics",
            models.DiagnosticsResponse,
            params={"profile": profile},
            **options,
        )

    def overview(self, **options: Unpack[CallOptions]) -> OperatorOverviewResponse:
        """The operator overview (`GET /api/v2/overview`): counts of workers, sources,
        executions, admissions and alerts, and which integrations are configured.

        Example:
            >>> client.overview().running_executions
            3
        """
        return self._get(f"{API}/overview", models.OperatorOverviewResponse, **options)

    def openapi(self, **options: Unpack[CallOptions]) -> dict[str, Any]:
        """The server's own OpenAPI document (`GET /api/v2/openapi.json`); needs no token.

        Use it to see which version a server runs (`info.version`) or what it offers.

        Returns:
            The decoded document.

        Raises:
            ResponseValidationError: The reply is not a JSON object.

        Example:
            >>> client.openapi()["info"]["version"]
            '0.1.6'
        """
        document: dict[str, Any] = self._call(
            "GET", f"{API}/openapi.json", dict[str, Any], auth=False, **options
        )
        return document

    # -- project configs ----------------------------------------------------------------

    def upload_project_config(
        self, yaml: str | bytes | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> ValidationReport:
        """Upload a project config (`POST /api/v2/project-configs`); superuser only.

        The project id is the YAML's `metadata.id`. A valid config becomes a new version
        and the active one. The body is sent as `text/plain; charset=utf-8`: the server's
        OpenAPI document declares `text/plain`, the seed guide sends `application/x-yaml`,
        and the handler reads any body as UTF-8 text whatever its type, so the declared
        type (with the charset it requires) is the one that matches every source.

        Args:
            yaml: The config as text, as UTF-8 bytes, or a path (`pathlib.Path`) to a file,
                which is streamed from disk. A `str` is always the YAML itself.

        Returns:
            The validation report (`valid`, `spec_sha256`, and `warnings` such as
            `in_flight_config_pins` when running executions pin another version).

        Raises:
            InvalidArgumentError: Empty content, bytes that are not UTF-8, an unreadable
                path, or a one-line str naming a .yaml file (nothing is sent).
            ProjectConfigValidationError: The config is invalid; `.diagnostics` lists each
                problem (400 `project_config_validation_failed`).
            BadRequestError: The YAML cannot be parsed (`project_config_parse_failed`), or
                it holds inline secrets on a production server.
            PermissionDeniedError: The user is not a superuser (403).

        Example:
            >>> report = client.upload_project_config(Path("wallaby_hires.v2.yaml"))
            >>> report.project_id, report.valid
            ('wallaby_hires', True)
        """
        body = _yaml_body(yaml)
        return self._post(f"{API}/project-configs", models.ValidationReport, body=body, **options)

    def get_project_config(
        self, project_id: str, **options: Unpack[CallOptions]
    ) -> ProjectConfigRow:
        """The active version of a project config (`GET /api/v2/project-configs/{id}`).

        Args:
            project_id: The project id (the config's `metadata.id`, e.g. `wallaby_hires`).

        Returns:
            The version row; `spec` is the parsed config as JSON.

        Raises:
            NotFoundError: No active config for that project (404).

        Example:
            >>> client.get_project_config("wallaby_hires").version
            2
        """
        pid = name_id("project_id", project_id)
        return self._get(f"{API}/project-configs/{pid}", models.ProjectConfigRow, **options)

    def list_project_config_versions(
        self, project_id: str, **options: Unpack[CallOptions]
    ) -> list[ProjectConfigRow]:
        """Every uploaded version of a project config
        (`GET /api/v2/project-configs/{id}/versions`).

        Args:
            project_id: The project id.

        Returns:
            The versions (an empty list for an unknown project).

        Example:
            >>> [row.version for row in client.list_project_config_versions("wallaby_hires")]
            [2, 1]
        """
        pid = name_id("project_id", project_id)
        return self._get(
            f"{API}/project-configs/{pid}/versions", list[models.ProjectConfigRow], **options
        )

    def upload_project_config_wasm(
        self,
        project_id: str,
        wasm: bytes | os.PathLike[str],
        **options: Unpack[CallOptions],
    ) -> WasmUploadResponse:
        """Upload a WASM hook module for the project's active config
        (`POST /api/v2/project-configs/{id}/wasm`); superuser only.

        Args:
            project_id: The project id.
            wasm: The module as bytes, or a path to it (streamed from disk). Sent as
                `application/octet-stream`.

        Returns:
            The module's `wasm_sha256` and the config version it belongs to.

        Raises:
            InvalidArgumentError: Empty content, a str, or an unreadable path.
            BadRequestError: Not a valid module (`wasm_validation_failed`).
            NotFoundError: The project has no active config (404).
            PermissionDeniedError: The user is not a superuser (403).

        Example:
            >>> client.upload_project_config_wasm("wallaby_hires", Path("hooks.wasm")).wasm_sha256
            '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
        """
        pid = name_id("project_id", project_id)
        body = _wasm_body(wasm)
        return self._post(
            f"{API}/project-configs/{pid}/wasm", models.WasmUploadResponse, body=body, **options
        )

    def get_project_config_wasm(
        self, project_id: str, sha256: str, **options: Unpack[CallOptions]
    ) -> WasmInfo:
        """What the server holds of a WASM module
        (`GET /api/v2/project-configs/{id}/wasm/{sha256}`).

        Args:
            project_id: The project id.
            sha256: The module's `wasm_sha256` (hex; upper case is accepted).

        Returns:
            The module's sha256, its config version's id and when it was uploaded.

        Raises:
            NotFoundError: No active config, or no such module for it (404).

        Example:
            >>> client.get_project_config_wasm("wallaby_hires", digest).uploaded_at
            datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
        """
        path = self._wasm_path(project_id, sha256)
        return self._get(path, models.WasmInfo, **options)

    @overload
    def download_project_config_wasm(
        self,
        project_id: str,
        sha256: str,
        dest: None = None,
        **options: Unpack[CallOptions],
    ) -> bytes: ...

    @overload
    def download_project_config_wasm(
        self,
        project_id: str,
        sha256: str,
        dest: str | os.PathLike[str],
        **options: Unpack[CallOptions],
    ) -> Path: ...

    @overload
    def download_project_config_wasm(
        self,
        project_id: str,
        sha256: str,
        dest: Writable,
        **options: Unpack[CallOptions],
    ) -> int: ...

    def download_project_config_wasm(
        self,
        project_id: str,
        sha256: str,
        dest: str | os.PathLike[str] | Writable | None = None,
        **options: Unpack[CallOptions],
    ) -> bytes | Path | int:
        """Download a WASM module (`GET /api/v2/project-configs/{id}/wasm/{sha256}
        ?download=true`).

        With a destination the body is streamed in bounded blocks: memory stays flat
        however large the module. A path is written through a temporary file beside it
        and renamed into place once the whole body arrived, so a failure leaves no
        partial file.

        Args:
            project_id: The project id.
            sha256: The module's `wasm_sha256`.
            dest: Where to write the module: a path, or a binary file object (left open).
                None returns the bytes.

        Returns:
            The module's bytes when `dest` is None, the `Path` written for a path, or the
            number of bytes written for a file object.

        Raises:
            InvalidArgumentError: A bad id or digest, a directory, a missing parent
                directory, or a text-mode file (nothing is sent).
            NotFoundError: No active config, or no such module for it (404).
            APIConnectionError: The body broke off before it was complete.

        Example:
            >>> client.download_project_config_wasm("wallaby_hires", digest, "hooks.wasm")
            PosixPath('hooks.wasm')
        """
        path = self._wasm_path(project_id, sha256)
        params = {"download": "true"}
        if dest is None:
            return self._get_bytes(path, params=params, **options)
        target = Download(dest)  # a bad destination fails before anything is sent
        count = target.save(self._transport.send("GET", path, params=params, **options))
        return Path(target.path) if target.path is not None else count

    def _wasm_path(self, project_id: str, sha256: str) -> str:
        pid = name_id("project_id", project_id)
        return f"{API}/project-configs/{pid}/wasm/{sha256_id(sha256)}"

    # -- projects -----------------------------------------------------------------------

    def list_projects(self, **options: Unpack[CallOptions]) -> list[ProjectListItem]:
        """The projects with an active config (`GET /api/v2/projects`).

        Returns:
            Each project's id, active version number and `active` flag.

        Example:
            >>> [p.project_id for p in client.list_projects()]
            ['wallaby_hires']
        """
        return self._get(f"{API}/projects", list[models.ProjectListItem], **options)

    def list_project_contracts(self, **options: Unpack[CallOptions]) -> list[ValidationReport]:
        """The validation report of every active project config
        (`GET /api/v2/projects/contracts`).

        Example:
            >>> [(c.project_id, c.valid) for c in client.list_project_contracts()]
            [('wallaby_hires', True)]
        """
        return self._get(f"{API}/projects/contracts", list[models.ValidationReport], **options)

    def get_project_contract(
        self, project_id: str, **options: Unpack[CallOptions]
    ) -> ValidationReport:
        """The validation report of a project's active config
        (`GET /api/v2/projects/contracts/{id}`).

        Args:
            project_id: The project id.

        Raises:
            NotFoundError: No active config for that project (404).

        Example:
            >>> client.get_project_contract("wallaby_hires").spec_sha256
            '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'
        """
        pid = name_id("project_id", project_id)
        return self._get(f"{API}/projects/contracts/{pid}", models.ValidationReport, **options)

    def list_project_events(
        self,
        module: str,
        *,
        limit: int = 100,
        offset: int = 0,
        **options: Unpack[CallOptions],
    ) -> Page[ProvenanceEventResponse]:
        """A project's provenance events, newest first (`GET /api/v2/projects/{module}/events`).

        Args:
            module: The project module (its project id).
            limit: Events per page (1..499).
            offset: Events to skip before the first page.

        Returns:
            The first page; iterating it fetches the following pages lazily and stops
            after the first page shorter than `limit`.

        Example:
            >>> for event in client.list_project_events("wallaby_hires", limit=50):
            ...     print(event.occurred_at, event.event_type)
        """
        segment = name_id("module", module)
        return self._offset_page(
            f"{API}/projects/{segment}/events",
            models.ProvenanceEventResponse,
            limit=limit,
            offset=offset,
            **options,
        )
