"""The `controldeck` logger, switched on by `CONTROLDECK_LOG=debug|info`.

Without the variable nothing is configured: applications keep full control of the
`controldeck` logger through the standard `logging` module. With it, the logger gets the
level and its own stderr handler, and stops propagating to the root logger, so a
`logging.basicConfig()` in the application does not print every line twice (the
application's root handlers then do not see controldeck's records: leave the variable
unset and configure the `controldeck` logger yourself to route them elsewhere).
"""

from __future__ import annotations

import logging
import os

from controldeck._core._constants import LOG_ENV, LOGGER_NAME

__all__ = ["logger", "setup_logging"]

logger = logging.getLogger(LOGGER_NAME)
_configured = False
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


def setup_logging() -> None:
    """Apply `CONTROLDECK_LOG` once per process (every client construction calls this)."""
    global _configured
    if _configured:
        return
    _configured = True
    raw = os.environ.get(LOG_ENV, "").strip()
    if not raw:
        return
    level = _LEVELS.get(raw.lower())
    if level is None:
        # Said once, on stderr, so a typo does not silently log nothing.
        logging.getLogger(LOGGER_NAME).warning(
            "%s=%r is not a level controldeck knows; use 'debug' or 'info'", LOG_ENV, raw[:20]
        )
        return
    logger.setLevel(level)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
