"""Notifications for monitors: turn violations and resolutions into emails and webhook calls that reach a person."""

from __future__ import annotations

from llmsight.monitors.notify.alert import Alert, WorstSample
from llmsight.monitors.notify.channels import Channel, DeliveryError, EmailChannel, WebhookChannel, parse_channels
from llmsight.monitors.notify.dispatcher import Dispatcher
from llmsight.monitors.notify.email import build_email, send_email
from llmsight.monitors.notify.message import json_body, slack_body, subject, text_body
from llmsight.monitors.notify.policy import History, decide, next_history
from llmsight.monitors.notify.webhook import send_webhook

__all__ = [
    "Alert",
    "Channel",
    "DeliveryError",
    "Dispatcher",
    "EmailChannel",
    "History",
    "WebhookChannel",
    "WorstSample",
    "build_email",
    "decide",
    "json_body",
    "next_history",
    "parse_channels",
    "send_email",
    "send_webhook",
    "slack_body",
    "subject",
    "text_body",
]
