"""One reader for durations everywhere a person writes one: flags, env vars and the monitor file.

Both forms are accepted because people bring both: the short ``90s``, ``15m``, ``1h``, ``7d``, ``2w``
of CLIs, and ISO 8601 (``PT1H``, ``P7D``, ``P1DT12H``) as Azure's monitor schedules and Grafana use.
A bare number is seconds.
"""

from __future__ import annotations

import re

_SHORT = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?$", re.IGNORECASE)
_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class DurationError(ValueError):
    """A duration that cannot be read; the message shows the forms that can."""


def parse_duration(text: str | float | int) -> float:
    """``90s``, ``15m``, ``1h``, ``7d``, ``PT1H``, ``P7D`` (or a number of seconds) -> seconds."""
    if isinstance(text, bool):
        raise DurationError(f"cannot read duration {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise DurationError(f"duration {text} is negative")
        return float(text)
    raw = (text or "").strip()
    short = _SHORT.match(raw)
    if short:
        return float(short.group(1)) * _UNITS[(short.group(2) or "s").lower()]
    iso = _ISO.match(raw)
    if iso and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
        return float(sum(float(v) * _ISO_UNITS[k] for k, v in iso.groupdict().items() if v))
    raise DurationError(f"cannot read duration {text!r}: use e.g. 30m, 1h, 7d, or ISO 8601 such as PT1H, P7D")


def format_duration(seconds: float) -> str:
    """The shortest short form that is exact: 86400 -> ``1d``, 5400 -> ``90m``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
