"""The `controldeck` logger, switched on by `CONTROLDECK_LOG=debug|info`."""

from __future__ import annotations

import logging
import os

from controldeck._core._constants import LOG_ENV, LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)
_configured = False


def setup_logging() -> None:
    """Attach a stderr handler once when `CONTROLDECK_LOG` asks for it.

    Without the variable nothing is configured, so applications keep full control of the
    logger through the standard `logging` module.
    """
    global _configured
    if _configured:
        return
    _configured = True
    level = {"debug": logging.DEBUG, "info": logging.INFO}.get(
        os.environ.get(LOG_ENV, "").strip().lower()
    )
    if level is None:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
