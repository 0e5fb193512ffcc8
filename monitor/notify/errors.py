"""Delivery errors of sinks: one family, told apart by whether a retry can help.

Messages never contain URLs, routing keys or signing secrets, so they can be logged and
written to the dead-letter topic as they are.
"""

from __future__ import annotations

from monitor.errors import DriftdError


class AlertDeliveryError(DriftdError):
    """A sink did not accept an alert."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        response_body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.response_body = response_body
        # Seconds the receiver asked us to wait (Retry-After), if it said so.
        self.retry_after = retry_after


class TransientDeliveryError(AlertDeliveryError):
    """Worth retrying: 408, 429, 5xx, timeouts, refused or reset connections."""

    retryable = True


class PermanentDeliveryError(AlertDeliveryError):
    """Retrying the same request cannot succeed (other 4xx, 3xx): dead-letter it."""

    retryable = False
