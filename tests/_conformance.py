"""Spec conformance for unit tests: every request the SDK sends and every canned reply is
validated against the platform's committed OpenAPI spec with openapi-core.

`ConformanceMock` is a `responses.RequestsMock` that, on exit (before `responses` clears
its call list), validates each captured call and records which spec operations were
exercised, so the session can check that every operation was hit at least once.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import responses
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# platform -> {(METHOD, path template)} seen by the tests of this session
EXERCISED: dict[str, set[tuple[str, str]]] = defaultdict(set)


@functools.cache
def spec_document(platform: str) -> dict[str, Any]:
    with open(SPEC_DIR / f"{platform}.yaml", encoding="utf-8") as f:
        doc: dict[str, Any] = yaml.safe_load(f)
    return doc


@functools.cache
def openapi(platform: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_DIR / f"{platform}.yaml"))


def operations(platform: str, *, wrapped_only: bool = True) -> set[tuple[str, str]]:
    """(METHOD, template) for every operation; unwrapped server routes left out on request."""
    out = set()
    for template, item in spec_document(platform)["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None or (wrapped_only and op.get("x-controldeck-unwrapped")):
                continue
            out.add((method.upper(), template))
    return out


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


def match_operation(platform: str, method: str, path: str, api_prefix: str) -> str | None:
    """The path template a request path belongs to (`api_prefix` stripped first)."""
    candidates = [path[len(api_prefix) :]] if path.startswith(api_prefix) else []
    candidates.append(path)  # path-level servers may drop the prefix (e.g. base-url fallback)
    templates = [t for (m, t) in operations(platform, wrapped_only=False) if m == method]
    # Literal templates win over parameterised ones (/changes/acknowledge vs /changes/{id}).
    templates.sort(key=lambda t: t.count("{"))
    for candidate in candidates:
        for template in templates:
            if _template_regex(template).match(candidate):
                return template
    return None


class ConformanceMock(responses.RequestsMock):
    """A RequestsMock that validates traffic against `openapi/<platform>.yaml` on exit.

    Args:
        platform: The spec's stem.
        api_prefix: The path of the API root in the test base URL (e.g. "/api").
    """

    def __init__(self, platform: str, *, api_prefix: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("assert_all_requests_are_fired", False)
        super().__init__(**kwargs)
        self.platform = platform
        self.api_prefix = api_prefix
        self.skip_validation = False

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        # `responses` clears `calls` when the mock stops, so validate before that happens.
        try:
            if exc_type is None:
                self.validate()
        finally:
            result = super().__exit__(exc_type, exc, tb)
        return result

    def validate(self) -> None:
        """Validate every captured call (idempotent; also runs on exit)."""
        spec = openapi(self.platform)
        problems = []
        for call in self.calls:
            request = call.request
            method = (request.method or "GET").upper()
            path = urlsplit(request.url).path
            template = match_operation(self.platform, method, path, self.api_prefix)
            if template is None:
                if not self.skip_validation:
                    problems.append(f"{method} {path}: no such operation in the spec")
                continue
            EXERCISED[self.platform].add((method, template))
            if self.skip_validation:
                continue
            oa_request = RequestsOpenAPIRequest(request)
            try:
                spec.validate_request(oa_request)
            except Exception as exc:  # report every problem, not just the first
                problems.append(f"request {method} {path}: {_explain(exc)}")
            response = call.response
            # An event stream's body is read by the SDK as it streams, so openapi-core
            # would see none (and has no text/event-stream deserializer); its frames are
            # checked by the stream tests decoding them into the spec's models. A body the
            # SDK streamed to a file (a download) is gone too; its status and headers are
            # what is left, and the download tests check the bytes.
            streamed = (
                response is not None
                and not isinstance(response, Exception)
                and response._content is False
                and response._content_consumed
            )
            # Connect stream replies (length-prefixed envelopes) are framed binary that
            # openapi-core cannot parse either; the watch tests decode every frame into the
            # spec's models, and `raw.read1` leaves `_content_consumed` unset.
            replied = response is not None and not isinstance(response, Exception)
            content_type = response.headers.get("Content-Type", "") if replied else ""
            if (
                replied
                and not streamed
                and not content_type.startswith(("text/event-stream", "application/connect+json"))
            ):
                try:
                    spec.validate_response(oa_request, RequestsOpenAPIResponse(response))
                except Exception as exc:
                    problems.append(
                        f"response {response.status_code} to {method} {path}: {_explain(exc)}"
                    )
        if problems:
            raise AssertionError("spec conformance failed:\n  " + "\n  ".join(problems))


def _explain(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            parts.extend(
                f"{'.'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors
            )
        cause = cause.__cause__
    return "; ".join(parts)
