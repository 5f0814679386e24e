"""Every transport default, in one place (design.md §4)."""

from __future__ import annotations

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
DEFAULT_TIMEOUT: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)

MAX_RETRIES = 2
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 8.0
BACKOFF_JITTER = (0.75, 1.0)

# Statuses worth another try. 500 only for retry-safe calls (see _retry).
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Replies whose body a platform's retry advice reads (every status a retry may follow).
ADVISED_STATUSES = RETRY_STATUSES | {500}
RETRY_AFTER_MAX = 60.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

MAX_REDIRECTS = 5

# wait_for: the poll interval is multiplied by WAIT_BACKOFF after every poll (1.0 = steady
# polling, as the upstream SDKs do) and never grows past WAIT_MAX_INTERVAL seconds unless the
# caller's own poll_interval is longer.
WAIT_BACKOFF = 1.0
WAIT_MAX_INTERVAL = 30.0
BODY_EXCERPT_CHARS = 500
# The most characters of a caller's argument (an id, a value) echoed in any message.
MAX_ECHO = 100

# Sessions kept idle for reuse; more are opened while more threads call at once, and the
# ones beyond this are closed when returned, so the count follows peak concurrency.
MAX_IDLE_SESSIONS = 8

# Header names whose values never reach a log line or an error message.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
# JSON keys masked in logged bodies and error excerpts on every platform: generic credential
# names, and the header names above when a body carries them. Each platform adds the fields
# its spec marks `x-controldeck-secret`.
SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "password",
        "secret",
        "api_key",
        "apikey",
        "private_key",
        "client_secret",
        *SECRET_HEADERS,
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
