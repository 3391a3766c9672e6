"""Standard Webhooks signatures (https://www.standardwebhooks.com), made by
the `standardwebhooks` library itself, so what we send is what its
`Webhook(secret).verify` accepts.

A secret is `whsec_` + base64 of 32 random bytes (the library's format).
Each delivery is signed with every unexpired secret of its endpoint: during
a rotation `webhook-signature` holds two `v1,<base64 HMAC-SHA256>` values,
separated by a space, and a receiver holding either secret verifies it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


class Signer:
    """The signing keys of one endpoint (parsed once per claim batch)."""

    __slots__ = ("_hooks",)

    def __init__(self, endpoint_secrets: Sequence[str]):
        self._hooks = [Webhook(secret) for secret in endpoint_secrets]

    def headers(self, *, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
        """The three Standard Webhooks headers for `body` sent as `message_id`."""
        at = at or datetime.now(UTC)
        timestamp = at.replace(microsecond=0)
        signature = " ".join(
            hook.sign(msg_id=message_id, timestamp=timestamp, data=body) for hook in self._hooks
        )
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
        }
