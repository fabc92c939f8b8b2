"""Keeps llmsight's own bugs away from the app: they are logged once per place, never raised."""

from __future__ import annotations

import contextlib
import logging

logger = logging.getLogger("llmsight.instrumentation")

_reported: set[str] = set()


def report_internal_error(where: str) -> None:
    """Log an internal failure once per ``where`` so a broken wrapper cannot flood the app's logs."""
    if where in _reported:
        return
    _reported.add(where)
    with contextlib.suppress(Exception):  # logging itself misconfigured: nothing more we can do
        logger.warning("llmsight: internal error in %s; the call goes through untraced", where, exc_info=True)
