"""The CloudEvents 1.0 (JSON) envelope of a feed event, as the feed answers
it and as webhooks will send it. A plain function: the feed renders up to
1,000 of these per request."""

from __future__ import annotations

from arcadia_cloud.api.rendering import iso
from feed.selectors import FeedEvent

SPECVERSION = "1.0"
API_SOURCE = "/api/v1"
#: `sequence` (CloudEvents sequence extension) must compare lexicographically
#: in event order: positions are zero-padded to the width of a bigint.
SEQUENCE_WIDTH = 19


def sequence_of(position: int) -> str:
    return f"{position:0{SEQUENCE_WIDTH}d}"


def render_envelope(event: FeedEvent) -> dict:
    subject = str(event.deployment_id) if event.deployment_id is not None else None
    return {
        "id": f"evt_{event.id}",
        "specversion": SPECVERSION,
        "type": event.type,
        "source": f"{API_SOURCE}/deployments/{subject}" if subject else API_SOURCE,
        "subject": subject,
        "time": iso(event.occurred_at),
        "tenant_id": str(event.tenant_id) if event.tenant_id is not None else None,
        "sequence": sequence_of(event.position),
        "datacontenttype": "application/json",
        "data": event.data,
    }
