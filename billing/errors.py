from __future__ import annotations

from arcadia_cloud.errors import DomainError


class NoOpenPeriod(DomainError):
    """Billing has ended (the deployment was cancelled and its last period
    closed): there is no open period to preview."""

    category = "not_found"
    code = "no_open_period"
