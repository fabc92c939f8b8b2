"""Keeps llmsight's own bugs away from the app: they are logged once per place, never raised."""

from __future__ import annotations

import contextlib
import logging
import sys

logger = logging.getLogger("llmsight.instrumentation")

_reported: set[str] = set()


def report_internal_error(where: str, consequence: str = "the call goes through untraced") -> None:
    """Log an internal failure once per ``where`` and kind of error, so a broken wrapper cannot flood
    the app's logs and one harmless failure does not silence a different one at the same place."""
    key = f"{where}:{type(sys.exc_info()[1]).__qualname__}"
    if key in _reported:
        return
    if len(_reported) > 256:  # bounded: many distinct failures are already a flood of their own
        return
    _reported.add(key)
    with contextlib.suppress(Exception):  # logging itself misconfigured: nothing more we can do
        logger.warning("llmsight: internal error in %s; %s", where, consequence, exc_info=True)
