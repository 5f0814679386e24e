"""Every transport default, in one place (design.md §4)."""

from __future__ import annotations

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
DEFAULT_TIMEOUT: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)

MAX_RETRIES = 2
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 8.0
BACKOFF_JITTER = (0.75, 1.0)

# Statuses worth another try. 500 only for idempotent methods (see _transport).
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_AFTER_MAX = 60.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

MAX_REDIRECTS = 5
BODY_EXCERPT_CHARS = 500

# Header names whose values never reach a log line or an error message.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
# JSON keys whose values are masked in logged bodies and in error excerpts.
SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "machine_token",
        "device_token",
        "password",
        "secret",
        "api_key",
        "apikey",
        "private_key",
        "client_secret",
        "jwt_secret",
    }
)
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")

LOG_ENV = "CONTROLDECK_LOG"
LOGGER_NAME = "controldeck"

# Streams (_streams.py).
STREAM_READ_SIZE = 65536  # bytes asked of each read1(); a read returns whatever has arrived
STREAM_MAX_RECONNECTS = 5  # reopen attempts in a row before a dropped stream is reported
STREAM_RETRY_MAX = 30.0  # seconds: cap on an SSE server's `retry:` before a reconnect
STREAM_MAX_MESSAGE = 16 * 1024 * 1024  # bytes: cap on one length-prefixed envelope message
