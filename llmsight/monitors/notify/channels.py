"""Notification channels as written in the monitor file, validated when the file is loaded.

The models are strict (unknown fields are errors) because a typo such as ``pasword_env`` would
otherwise be ignored and only show up as a silent failure on the day a monitor fires. Secrets
never live in the file: the file names environment variables (``password_env``, ``headers_env``)
and the sender reads them at send time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

__all__ = ["Channel", "DeliveryError", "EmailChannel", "WebhookChannel", "parse_channels"]

# One "@", something on both sides, and none of the characters that would let a value add
# headers or recipients: whitespace (CR/LF is header injection), commas, angle brackets, quotes.
_ADDRESS = re.compile(r"[^@\s,;<>\"()]+@[^@\s,;<>\"()]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# RFC 9110 token characters: a header name with anything else is rejected by servers or splits the request.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class DeliveryError(Exception):
    """A delivery to a channel failed; ``retry`` says whether trying again can help.

    Configuration problems (a missing environment variable, a rejected login, a 404 or a
    redirect) do not get better by retrying, so the dispatcher gives up on them at once.
    """

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def _check_address(value: str) -> str:
    if not _ADDRESS.fullmatch(value) or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} is not a bare email address (one '@', no spaces, newlines, commas or '<>')")
    return value


def _check_env_name(value: str, what: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{what} must be the NAME of an environment variable (letters, digits, '_'), "
            f"not the secret itself: got a value of {len(value)} characters"
        )
    return value


class EmailChannel(BaseModel):
    """Send notifications by SMTP: STARTTLS on 587 by default, implicit TLS (465) or none (a local relay)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str = ""
    password_env: str = ""
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout_s: float = Field(10.0, gt=0)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if any(c.isspace() for c in value) or "/" in value:
            raise ValueError(f"{value!r} is not a host name: give the SMTP server's name or IP, no scheme or spaces")
        return value

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [_check_address(v) for v in value]

    @field_validator("password_env")
    @classmethod
    def _password_env(cls, value: str) -> str:
        return _check_env_name(value, "password_env") if value else value

    @model_validator(mode="after")
    def _login_needs_password(self) -> EmailChannel:
        if self.user and not self.password_env:
            raise ValueError("user is set but password_env is not: name the environment variable holding the password")
        return self


def check_url(value: str) -> str:
    # Only http(s): urllib would also open file:// and ftp:// URLs, which a monitor file must not reach.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("url must be an http:// or https:// URL with a host (and no spaces)")
    return value


class WebhookChannel(BaseModel):
    """POST a JSON body (generic, or Slack's incoming-webhook shape) to a URL."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["webhook"]
    url: str = ""
    url_env: str = ""  # NAME of an environment variable holding the URL (a Slack URL is its own secret)
    format: Literal["json", "slack"] = "json"
    headers_env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value) if value else value

    @field_validator("url_env")
    @classmethod
    def _url_env(cls, value: str) -> str:
        return _check_env_name(value, "url_env") if value else value

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url or url_env (the name of a variable holding the URL)")
        return self

    def resolve_url(self, env: Mapping[str, str]) -> str:
        """The URL to post to: ``url``, or the value of ``url_env`` (checked like ``url``) at send time."""
        if self.url:
            return self.url
        value = env.get(self.url_env, "")
        if not value:
            raise DeliveryError(f"environment variable {self.url_env} (url_env) is not set", retry=False)
        try:
            return check_url(value)
        except ValueError as exc:
            raise DeliveryError(f"{self.url_env} (url_env): {exc}", retry=False) from None

    @field_validator("headers_env")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, env_name in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            _check_env_name(env_name, f"headers_env[{name!r}]")
        return value


Channel = Annotated[EmailChannel | WebhookChannel, Field(discriminator="type")]

_CHANNELS: TypeAdapter[dict[str, Channel]] = TypeAdapter(dict[str, Channel])


def parse_channels(raw: Mapping[str, Any]) -> dict[str, Channel]:
    """Validate a ``channels:`` mapping (name -> fields) from the monitor file; raises pydantic's ValidationError."""
    return _CHANNELS.validate_python(dict(raw))
