"""Durable, at-least-once delivery of alerts from the alerts topic to PagerDuty, Slack
and signed webhooks (see ``notifier.py`` for the guarantees)."""

from monitor.notify.errors import (
    AlertDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from monitor.notify.notifier import Notifier
from monitor.notify.sinks import AlertSink, PagerDutySink, SlackSink, WebhookSink

__all__ = [
    "AlertDeliveryError",
    "AlertSink",
    "Notifier",
    "PagerDutySink",
    "PermanentDeliveryError",
    "SlackSink",
    "TransientDeliveryError",
    "WebhookSink",
]
