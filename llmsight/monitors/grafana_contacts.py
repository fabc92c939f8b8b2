"""The monitor file's channels as Grafana contact points and a notification policy (opt-in).

For deployments where Grafana, not llmsight, tells people: email goes through Grafana's SMTP
settings (``GF_SMTP_*``), webhooks keep their URL (``url_env`` as ``$__env{VAR}``, Grafana's
provisioning interpolation), Slack-format ones use Grafana's Slack integration, and a policy routes
each monitor's alerts (label ``monitor``) to its channels, repeating after its ``repeat_interval``.
"""

from __future__ import annotations

from typing import Any

from llmsight.monitors.config import MonitorFile
from llmsight.monitors.grafana_rules import stable_uid


def _contact_name(channel: str) -> str:
    return f"llmsight-{channel}"


def _secret_url(channel: Any) -> str:
    """``url``, or ``url_env`` as Grafana's provisioning interpolation (the Grafana container needs that variable)."""
    return channel.url or f"$__env{{{channel.url_env}}}"


def contact_points(file: MonitorFile) -> list[dict[str, Any]]:
    """One contact point per channel. Email goes through Grafana's SMTP settings (GF_SMTP_*), not the
    channel's host; webhook headers from ``headers_env`` are not carried over (Grafana's webhook has no
    per-header settings in 11.x), so a receiver that needs them should use llmsight's own notifications."""
    resolved = {name: False for name in file.channels}
    for monitor in file.monitors:
        for name in monitor.notify.channels:
            resolved[name] |= monitor.notify.send_resolved
    out = []
    for name, channel in file.channels.items():
        if channel.type == "email":
            receiver = {"type": "email", "settings": {"addresses": ";".join(channel.to), "singleEmail": True}}
        elif channel.format == "slack":
            receiver = {"type": "slack", "settings": {"url": _secret_url(channel)}}
        else:
            receiver = {"type": "webhook", "settings": {"url": _secret_url(channel), "httpMethod": "POST"}}
        receiver = {"uid": stable_uid("contact", name)[:40], **receiver, "disableResolveMessage": not resolved[name]}
        out.append({"orgId": 1, "name": _contact_name(name), "receivers": [receiver]})
    return out


def policies(file: MonitorFile) -> list[dict[str, Any]]:
    """Each monitor's alerts (label ``monitor``) to each of its channels, repeated after its repeat_interval.

    The root keeps Grafana's built-in ``grafana-default-email``: a monitor without channels is told
    no one, as with llmsight's own notifications.
    """
    routes = []
    for monitor in file.monitors:
        for channel in monitor.notify.channels:
            routes.append(
                {
                    "receiver": _contact_name(channel),
                    "object_matchers": [["monitor", "=", monitor.name]],
                    "group_by": ["grafana_folder", "alertname", "monitor", "metric", "statistic"],
                    "repeat_interval": f"{int(monitor.notify.repeat_interval)}s",
                    "continue": True,
                }
            )
    return [{"orgId": 1, "receiver": "grafana-default-email", "group_by": ["grafana_folder", "alertname"],
             "routes": routes}]  # fmt: skip
