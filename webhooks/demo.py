"""`/demo/webhook-receiver`: a small receiver for `make run`'s demo endpoint.

Served only with DEBUG on and only to loopback clients. It keeps the last
100 deliveries it got in this process's memory and shows them, each with
whether its signature verifies (with the `standardwebhooks` library, against
the secrets of the endpoint registered for this URL), so a newcomer sees the
feed reach a receiver without setting one up.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime

from django.conf import settings
from django.http import Http404, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt
from standardwebhooks import Webhook, WebhookVerificationError

from webhooks.models import EndpointSecret

KEPT = 100
_received: deque[dict] = deque(maxlen=KEPT)
_lock = threading.Lock()
_LOOPBACK = {"127.0.0.1", "::1"}


def _verifies(url: str, body: bytes, headers: dict[str, str]) -> bool:
    secrets = EndpointSecret.objects.filter(endpoint__url=url).values_list("secret", flat=True)
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        return True
    return False


@csrf_exempt
def webhook_receiver(request):
    if not settings.DEBUG or request.META.get("REMOTE_ADDR") not in _LOOPBACK:
        raise Http404
    if request.method == "POST":
        headers = {
            name: request.headers.get(name, "")
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        url = request.build_absolute_uri(request.path)
        try:
            envelope = json.loads(request.body)
        except ValueError:
            envelope = {}
        with _lock:
            _received.appendleft(
                {
                    "received_at": datetime.now(UTC),
                    "webhook_id": headers["webhook-id"],
                    "type": envelope.get("type", "?"),
                    "subject": envelope.get("subject"),
                    "verified": _verifies(url, request.body, headers),
                    "body": request.body.decode("utf-8", "replace")[:2000],
                }
            )
        return JsonResponse({"received": True})
    with _lock:
        received = list(_received)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {"received": [{**r, "received_at": r["received_at"].isoformat()} for r in received]}
        )
    response = TemplateResponse(request, "demo/webhook_receiver.html", {"received": received})
    response["Refresh"] = "5"
    return response
