"""The response shapes SPEC §3 lists, typed from the SPEC (not read from the code)."""

from __future__ import annotations

import re

#: An ISO 8601 UTC timestamp as the API writes it: seconds, optional micros, Z.
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
SPEC_DEPLOYMENT = {
    "id",
    "tenant_id",
    "slug",
    "display_name",
    "region",
    "state",
    "state_since",
    "llm_mode",
    "template_code",
    "template_version",
    "billing_action_suspended",
    "created_at",
    "allowed_transitions",
}
SPEC_EVENT = {"id", "from_state", "to_state", "reason", "actor", "notes", "occurred_at"}
