"""POST an alert as JSON to a webhook with the standard library's urllib (no extra dependency).

Redirects are not followed: a webhook that redirects is misconfigured (http -> https, a moved
endpoint), and following it would resend the body, and maybe an Authorization header, to an
address nobody put in the monitor file. Any answer other than 2xx is a failure. The URL is never
put into errors or logs, because for Slack and many chat tools the URL itself is the secret.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from llmsight import __version__
from llmsight.monitors.notify.alert import Alert
from llmsight.monitors.notify.channels import DeliveryError, WebhookChannel
from llmsight.monitors.notify.message import json_body, slack_body

__all__ = ["send_webhook"]

BODY_SNIPPET = 200  # bytes of an error response worth showing in a log line


def _opener(ssl_context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    # Built by hand rather than with build_opener(): no redirect handler (so a 3xx reaches the
    # error handler) and no file:, ftp: or data: handlers. Built per call so proxy variables
    # (HTTPS_PROXY, NO_PROXY) are read as they are now.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=ssl_context),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _headers(channel: WebhookChannel, env: Mapping[str, str]) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": f"llmsight/{__version__}"}
    for name, env_name in channel.headers_env.items():
        value = env.get(env_name, "")
        if not value:
            raise DeliveryError(f"environment variable {env_name} (headers_env[{name!r}]) is not set", retry=False)
        if any(c in value for c in "\r\n\x00"):
            message = f"environment variable {env_name} holds a line break: not a valid value for header {name}"
            raise DeliveryError(message, retry=False)
        headers[name] = value
    return headers


def send_webhook(
    channel: WebhookChannel,
    alert: Alert,
    env: Mapping[str, str],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """POST the alert (generic JSON or Slack format); raises ``DeliveryError`` (``retry`` set) on failure.

    5xx, 408, 429 and network errors are worth retrying; other 4xx answers and redirects mean the
    channel is configured wrong and will fail the same way next time.
    """
    document = slack_body(alert) if channel.format == "slack" else json_body(alert)
    body = json.dumps(document, allow_nan=False).encode()
    url = channel.resolve_url(env)
    request = urllib.request.Request(url, data=body, headers=_headers(channel, env), method="POST")
    host = urlsplit(url).hostname
    try:
        with _opener(ssl_context).open(request, timeout=channel.timeout_s):
            pass
    except urllib.error.HTTPError as exc:
        with exc:
            status = exc.code
            if 300 <= status < 400:
                location = exc.headers.get("Location", "?")
                raise DeliveryError(
                    f"webhook at {host} answered {status} redirecting to {location}: redirects are not followed, "
                    "set url to the final address",
                    retry=False,
                ) from None
            snippet = exc.read(BODY_SNIPPET).decode("utf-8", "replace")
        raise DeliveryError(
            f"webhook at {host} answered {status}: {snippet!r}", retry=status >= 500 or status in (408, 429)
        ) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach webhook at {host}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        # Timeouts while reading, connections closed without an answer.
        raise DeliveryError(f"webhook at {host} failed: {exc or type(exc).__name__}") from exc
