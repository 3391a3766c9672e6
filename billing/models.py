"""Statements: what each subscription owed for each closed period.

A statement is written once, when the billing clock closes its period, from
`billing.statements.statement_for` (the one pure function; the preview of the
open period calls it too). It is never changed afterwards: the database
refuses UPDATE and DELETE (migration 0002), and one (subscription, period)
has at most one statement (a unique constraint, which also makes two clocks
running at once close each period exactly once).
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class Statement(models.Model):
    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, related_name="statements"
    )
    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.PROTECT, related_name="statements"
    )
    #: The period, half-open [period_start, period_end): a calendar month in UTC.
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    #: The SPEC §6 lines, as `billing.statements.Line.as_dict` writes them.
    lines = models.JSONField(encoder=DjangoJSONEncoder, default=list)
    total_cents = models.BigIntegerField()
    closed_at = models.DateTimeField()

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="statement_one_per_period"
            ),
            models.CheckConstraint(
                condition=models.Q(total_cents__gte=0), name="statement_total_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")),
                name="statement_period_not_empty",
            ),
        ]
        indexes = [
            models.Index(
                fields=["deployment", "-period_start", "-id"], name="statement_deployment"
            ),
            models.Index(fields=["period_start", "id"], name="statement_period"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.subscription_id} {self.period_start:%Y-%m}: {self.total_cents} {self.currency}"
        )
