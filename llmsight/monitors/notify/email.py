"""Send an alert as a plain-text email with the standard library's smtplib (no extra dependency).

Failures raise ``DeliveryError`` so the dispatcher can retry; ``retry=False`` marks the ones a
retry cannot fix (no password in the environment, login rejected, a permanent 5xx reply), so a
wrong password is not tried five times against a server that may lock the account.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from llmsight.monitors.notify.alert import Alert
from llmsight.monitors.notify.channels import DeliveryError, EmailChannel
from llmsight.monitors.notify.message import subject, text_body

__all__ = ["build_email", "send_email"]

log = logging.getLogger(__name__)


def build_email(channel: EmailChannel, alert: Alert) -> EmailMessage:
    """The message as it will be sent; separate from sending so it can be inspected."""
    msg = EmailMessage()
    msg["From"] = channel.from_
    msg["To"] = ", ".join(channel.to)
    msg["Subject"] = subject(alert)
    msg["Date"] = format_datetime(alert.run_at)
    # An explicit domain: make_msgid's default asks DNS for this host's FQDN, which can hang.
    msg["Message-ID"] = make_msgid(domain=channel.from_.rpartition("@")[2])
    # RFC 3834: vacation responders and ticket systems must not answer an automatic message.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text_body(alert))
    return msg


def _password(channel: EmailChannel, env: Mapping[str, str]) -> str:
    password = env.get(channel.password_env, "")
    if not password:
        raise DeliveryError(
            f"environment variable {channel.password_env} (password_env) is not set: "
            f"cannot log in to {channel.host} as {channel.user}",
            retry=False,
        )
    return password


def send_email(
    channel: EmailChannel,
    alert: Alert,
    env: Mapping[str, str],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Deliver ``alert`` to ``channel.to``; raises ``DeliveryError`` (``retry`` set) when it is not accepted.

    ``ssl_context`` replaces the default (system CAs, hostname checked); tests pass one that
    trusts their self-signed certificate.
    """
    password = _password(channel, env) if channel.user else ""
    msg = build_email(channel, alert)
    where = f"{channel.host}:{channel.port}"
    try:
        if channel.security == "tls":
            context = ssl_context or ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=channel.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s)
        with smtp:
            if channel.security == "starttls":
                smtp.starttls(context=ssl_context or ssl.create_default_context())
            if channel.user:
                smtp.login(channel.user, password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(
            f"{where}: {exc} Set security (starttls, tls or none) and user to match the server.",
            retry=False,
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where} rejected the login for user {channel.user}: {_reply(exc)}", retry=False) from exc
    except smtplib.SMTPResponseException as exc:
        # 4xx replies are temporary by definition (RFC 5321); 5xx ones will be refused again.
        raise DeliveryError(f"{where} refused the message: {_reply(exc)}", retry=exc.smtp_code < 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(
            f"{where} refused every recipient: {', '.join(sorted(exc.recipients))}", retry=min(codes) < 500
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        # Connection refused, timeouts, TLS failures (ssl.SSLError is an OSError), dropped connections.
        raise DeliveryError(f"cannot send mail through {where}: {exc or type(exc).__name__}") from exc
    if refused:
        # Retrying would send a second copy to the recipients that did get it; say who did not.
        log.warning("email %r: %s refused some recipients: %s", alert.monitor, where, ", ".join(sorted(refused)))


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}"
