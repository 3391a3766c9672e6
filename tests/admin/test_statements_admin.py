"""The statements changelist: read-only for everyone, filtered by period and plan,
money in the currency's minor units, a fixed number of queries per page."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Statement
from tests.admin.conftest import subscribe
from tests.billing.test_clock import FEB, clock, subscribed
from tests.conftest import logged_in
from tests.factories import TenantFactory, make_deployment

CHANGELIST = "/admin/billing/statement/"
CLOSED = datetime(2026, 6, 1, 0, 5, tzinfo=UTC)


def _month(n: int) -> tuple[date, date]:
    """The n-th month from January 2025."""
    year, month = divmod(n, 12)
    start = date(2025 + year, month + 1, 1)
    year, month = divmod(n + 1, 12)
    return start, date(2025 + year, month + 1, 1)


def _plan_line(code: str, version: int, price: int, start: date, end: date) -> dict:
    return {
        "kind": "plan",
        "code": code,
        "description": f"{code.title()} v{version}",
        "plan_version": version,
        "unit_price_cents": price,
        "starts_at": f"{start}T00:00:00Z",
        "ends_at": f"{end}T00:00:00Z",
        "amount_cents": price,
    }


def statements(subscription, months: range, *, plan="studio", price=4900, currency="USD"):
    """Closed statements of `subscription`, one per month, written directly (the
    clock's arithmetic is tested in tests/billing/; here the pages are)."""
    rows = []
    for n in months:
        start, end = _month(n)
        rows.append(
            Statement(
                subscription=subscription,
                deployment_id=subscription.deployment_id,
                period_start=start,
                period_end=end,
                currency=currency,
                lines=[_plan_line(plan, 1, price, start, end)],
                total_cents=price,
                closed_at=CLOSED,
            )
        )
    return Statement.objects.bulk_create(rows)


def fleet(deployments: int, months: int, start: int = 0) -> None:
    """`deployments` subscribed deployments over as many tenants, `months` statements each."""
    for i in range(start, start + deployments):
        deployment = make_deployment(TenantFactory(slug=f"fleet-{i}"), slug=f"fleet-app-{i}")
        statements(subscribe(deployment, "studio"), range(months))


def queries(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response.content.decode()


@pytest.mark.django_db
def test_the_changelist_costs_the_same_queries_for_5_statements_and_200(
    billing_client, catalog_items
):
    fleet(1, 5)
    urls = [CHANGELIST, f"{CHANGELIST}?period=2025-03", f"{CHANGELIST}?plan=studio"]
    for url in urls:  # per-process caches (content types, the session) first
        queries(billing_client, url)
    small = {url: queries(billing_client, url)[0] for url in urls}
    fleet(20, 10, start=1)  # 205 statements of 21 deployments of 21 tenants
    assert Statement.objects.count() == 205
    large = {}
    for url in urls:
        large[url], body = queries(billing_client, url)
        assert "fleet-app-20" in body
    # 10 each: session, user, the user's and the groups' permissions, the
    # period choices (DISTINCT period_start), the plans (plan choices), the
    # filtered count, the full count, the page of statements joined to
    # deployment and tenant, and the currency choices (DISTINCT currency)
    assert large == small == dict.fromkeys(urls, 10)


@pytest.mark.django_db
def test_statements_are_read_only_for_every_group_and_the_superuser(
    billing_client, support_client, superuser_client, catalog_items, shop
):
    [statement] = statements(subscribe(shop, "studio"), range(1))
    change = reverse("admin:billing_statement_change", args=[statement.pk])
    delete = reverse("admin:billing_statement_delete", args=[statement.pk])
    for client in (billing_client, support_client, superuser_client):
        assert client.get(CHANGELIST).status_code == 200
        page = client.get(change)
        assert page.status_code == 200
        assert 'type="submit" value="Save"' not in page.content.decode()
        assert client.get(f"{CHANGELIST}add/").status_code == 403
        assert client.get(delete).status_code == 403
        assert client.post(change, {"total_cents": "1"}).status_code == 403
    statement.refresh_from_db()
    assert statement.total_cents == 4900


@pytest.mark.django_db
def test_staff_without_a_group_may_not_see_statements(groupless_staff):
    assert logged_in(groupless_staff).get(CHANGELIST).status_code == 403


@pytest.mark.django_db
def test_period_and_plan_filters(billing_client, catalog_items, tenant_a, tenant_b):
    studio = subscribe(make_deployment(tenant_a, slug="on-studio"), "studio")
    team = subscribe(make_deployment(tenant_b, slug="on-team"), "team")
    statements(studio, range(3))
    statements(team, range(2, 4), plan="team", price=19900)
    by_period = billing_client.get(f"{CHANGELIST}?period=2025-03").context["cl"].result_list
    assert {(s.deployment.slug, s.period_start) for s in by_period} == {
        ("on-studio", date(2025, 3, 1)),
        ("on-team", date(2025, 3, 1)),
    }
    by_plan = billing_client.get(f"{CHANGELIST}?plan=team").context["cl"].result_list
    assert {(s.deployment.slug, s.period_start.month) for s in by_plan} == {
        ("on-team", 3),
        ("on-team", 4),
    }
    both = billing_client.get(f"{CHANGELIST}?plan=studio&period=2025-01").context["cl"]
    assert [s.subscription_id for s in both.result_list] == [studio.pk]
    # the period choices are the periods that have statements, newest first
    body = billing_client.get(CHANGELIST).content.decode()
    assert body.index("April 2025") < body.index("January 2025")
    assert "May 2025" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["2025-13", "2025", "x\x00", "9999999-01"])
def test_a_period_that_is_not_one_is_refused_with_a_message(
    billing_client, catalog_items, shop, value
):
    statements(subscribe(shop, "studio"), range(1))
    response = billing_client.get(CHANGELIST, {"period": value}, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Filters not applied") for m in messages), messages


@pytest.mark.django_db
def test_money_in_the_currency_minor_units_and_links(billing_client, catalog_items, shop):
    usd = subscribe(shop, "studio")
    statements(usd, range(1), price=123456)
    yen_deployment = make_deployment(TenantFactory(slug="tokyo"), slug="tokyo-app")
    yen = subscribe(yen_deployment, "studio")
    [jpy] = statements(yen, range(1), price=150000, currency="JPY")
    body = billing_client.get(CHANGELIST).content.decode()
    assert "1,234.56 USD" in body
    assert "150,000 JPY" in body
    assert "1,500.00 JPY" not in body
    assert reverse("admin:deployments_deployment_change", args=[shop.pk]) in body
    assert reverse("admin:arcadia_cloud_tenant_change", args=[shop.tenant_id]) in body
    assert "studio v1" in body
    page = billing_client.get(reverse("admin:billing_statement_change", args=[jpy.pk]))
    text = page.content.decode()
    assert 'class="statement-lines"' in text
    assert text.count("150,000 JPY") >= 3  # unit price, amount, total
    assert reverse("admin:subscriptions_subscription_change", args=[yen.pk]) in text


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded")
def test_a_statement_the_clock_closed_shows_its_lines(billing_client, tenant):
    subscribed(tenant, addons=["storage_50gb"], slug="real")
    clock(FEB)
    statement = Statement.objects.get()
    body = billing_client.get(
        reverse("admin:billing_statement_change", args=[statement.pk])
    ).content.decode()
    assert "storage_50gb" in body
    assert "7.50 USD" in body
    assert "2026-01" in body
