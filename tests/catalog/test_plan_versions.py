"""Plan versions: draft, publish, retire; published terms never change."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from catalog.errors import PublishedVersionImmutable, VersionStateError
from catalog.models import Plan, PlanVersion
from catalog.selectors import active_version, resolve_plan_version
from catalog.services import (
    create_plan,
    create_plan_version,
    publish_plan_version,
    retire_plan_version,
    update_draft_version,
)
from tests.conftest import requires_postgres


@pytest.fixture
def plan(db):
    return create_plan(code="pro", name="Pro")


@pytest.fixture
def published(plan):
    version = create_plan_version(
        plan=plan, price_cents=2900, currency="USD", included_quotas={"storage_gb": 50}
    )
    return publish_plan_version(plan_version=version)


def test_versions_are_numbered_in_order(plan):
    first = create_plan_version(plan=plan, price_cents=100, currency="USD")
    second = create_plan_version(plan=plan, price_cents=200, currency="USD")
    assert (first.version, second.version) == (1, 2)
    assert first.published_at is None


def test_active_version_is_newest_published_not_retired(plan):
    assert active_version(plan) is None
    v1 = publish_plan_version(
        plan_version=create_plan_version(plan=plan, price_cents=100, currency="USD")
    )
    assert active_version(plan) == v1
    v2 = publish_plan_version(
        plan_version=create_plan_version(plan=plan, price_cents=200, currency="USD")
    )
    create_plan_version(plan=plan, price_cents=300, currency="USD")  # a draft v3
    assert active_version(plan) == v2
    retire_plan_version(plan_version=v2)
    assert active_version(plan) == v1
    assert resolve_plan_version(plan_code="pro") == v1
    assert resolve_plan_version(plan_code="pro", version=2) is None  # retired
    assert resolve_plan_version(plan_code="pro", version=3) is None  # draft
    retire_plan_version(plan_version=v1)
    assert active_version(plan) is None


def test_draft_terms_can_change(plan):
    draft = create_plan_version(plan=plan, price_cents=100, currency="USD")
    changed = update_draft_version(
        plan_version=draft, price_cents=150, included_quotas={"seats": 2}
    )
    assert PlanVersion.objects.get(pk=draft.pk).price_cents == 150
    assert changed.included_quotas == {"seats": 2}


def test_service_refuses_to_change_a_published_version(published):
    with pytest.raises(PublishedVersionImmutable) as caught:
        update_draft_version(plan_version=published, price_cents=1)
    assert caught.value.body() == {
        "error": "plan_version_immutable",
        "plan_version_id": published.pk,
    }
    stored = PlanVersion.objects.get(pk=published.pk)
    assert (stored.price_cents, stored.included_quotas) == (2900, {"storage_gb": 50})


def test_publish_twice_and_retire_a_draft_are_refused(plan, published):
    with pytest.raises(VersionStateError):
        publish_plan_version(plan_version=published)
    draft = create_plan_version(plan=plan, price_cents=100, currency="USD")
    with pytest.raises(VersionStateError):
        retire_plan_version(plan_version=draft)
    retire_plan_version(plan_version=published)
    with pytest.raises(VersionStateError):
        retire_plan_version(plan_version=published)


@pytest.mark.parametrize(
    "terms",
    [
        {"currency": "usd"},
        {"currency": "DOLLARS"},
        {"included_quotas": {"storage_gb": -1}},
        {"included_quotas": {"storage_gb": 1.5}},
        {"included_quotas": ["storage_gb"]},
        {"interval": "fortnight"},
    ],
)
def test_invalid_terms_are_refused(plan, terms):
    values = {"price_cents": 100, "currency": "USD", **terms}
    with pytest.raises(ValidationError):
        create_plan_version(plan=plan, **values)
    assert not PlanVersion.objects.exists()


@requires_postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("price_cents", "1"),
        ("currency", "'EUR'"),
        ("interval", "'year'"),
        ("included_quotas", """'{"storage_gb": 9999}'::jsonb"""),
        ("published_at", "NULL"),
        ("version", "42"),
    ],
)
def test_database_trigger_rejects_raw_sql_updates_of_published_terms(published, column, value):
    with (
        pytest.raises(IntegrityError, match="published and immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f'UPDATE catalog_planversion SET "{column}" = {value} WHERE id = %s', [published.pk]
        )
    stored = PlanVersion.objects.get(pk=published.pk)
    assert (stored.price_cents, stored.currency, stored.version) == (2900, "USD", 1)


@requires_postgres
@pytest.mark.django_db
def test_database_trigger_rejects_orm_updates_and_deletes(published):
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanVersion.objects.filter(pk=published.pk).update(price_cents=1)
    published.price_cents = 1
    with pytest.raises(IntegrityError), transaction.atomic():
        published.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanVersion.objects.filter(pk=published.pk).delete()
    assert PlanVersion.objects.get(pk=published.pk).price_cents == 2900


@requires_postgres
@pytest.mark.django_db
def test_database_trigger_allows_retiring_and_draft_edits(plan, published):
    # retiring is the one change a published version may take
    PlanVersion.objects.filter(pk=published.pk).update(retired_at="2030-01-01T00:00:00Z")
    draft = create_plan_version(plan=plan, price_cents=100, currency="USD")
    PlanVersion.objects.filter(pk=draft.pk).update(price_cents=120)
    PlanVersion.objects.filter(pk=draft.pk).delete()
    assert list(Plan.objects.get().versions.values_list("version", flat=True)) == [1]
