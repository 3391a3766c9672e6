"""The admin never answers 500 to a crafted filter or action value.

Django's changelist turns many bad lookup values into `IncorrectLookupParameters`
(a redirect to the plain changelist), but not all of them: a NUL byte reaches
PostgreSQL (which refuses it in text), a custom filter's `int()` or date
arithmetic raises, a value outside a field's choices silently matches nothing,
and a bulk action's `_selected_action` values go straight into
`pk__in=[...]`. `SafeAdminMixin`, a base of every registered ModelAdmin, closes
all of these in one place: the value is refused with a message saying which
parameter was wrong, and the operator lands on the changelist again.
"""

from __future__ import annotations

import functools
import re

from django.contrib import messages
from django.contrib.admin.filters import ChoicesFieldListFilter
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, SEARCH_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponseRedirect

#: Characters no stored value can hold: NUL (PostgreSQL refuses it in text)
#: and lone surrogates (not encodable as UTF-8).
UNUSABLE = re.compile("[\x00\ud800-\udfff]")
#: What an integer primary key can be (bigint); Python's int() has no bound.
MAX_INTEGER_PK = 2**63 - 1


def unusable(value: str) -> bool:
    return bool(UNUSABLE.search(value))


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SafeChangeListMixin:
    """Refuse, with a message, lookup values the changelist cannot use."""

    def __init__(self, request, *args, **kwargs):
        for name, values in request.GET.lists():
            bad = [v for v in values if unusable(v)]
            if unusable(name) or bad:
                label = "search" if name == SEARCH_VAR else _shown(name)
                refuse(request, f"the {label} value {_shown((bad or [name])[0])} cannot be used")
        super().__init__(request, *args, **kwargs)

    def get_filters(self, request):
        result = _refusing(request, super().get_filters, request)
        for spec in result[0]:
            if isinstance(spec, ChoicesFieldListFilter):
                _check_choices(request, spec)
        return result

    def get_queryset(self, request, exclude_parameters=None):
        return _refusing(request, super().get_queryset, request, exclude_parameters)


class SafeChangeList(SafeChangeListMixin, ChangeList):
    pass


@functools.cache
def _safe(changelist_class: type) -> type:
    if issubclass(changelist_class, SafeChangeListMixin):
        return changelist_class
    return type(f"Safe{changelist_class.__name__}", (SafeChangeListMixin, changelist_class), {})


_UNKNOWN_FIELD = re.compile(r"Cannot resolve keyword '([^']*)' into field")


def refuse(request, why: str):
    """Tell the operator (once per request, however many times the changelist
    asks), then let Django's changelist redirect to its plain page."""
    unknown = _UNKNOWN_FIELD.search(why)
    if unknown:
        why = f"{_shown(unknown.group(1))} is not a filter of this list"
    told = request.__dict__.setdefault("_console_refusals", set())
    if why not in told:
        told.add(why)
        messages.error(request, f"Filters not applied: {why}. The list below is unfiltered.")
    raise IncorrectLookupParameters(why)


def _refusing(request, function, *args):
    try:
        return function(*args)
    except IncorrectLookupParameters as exc:
        refuse(request, str(exc) or "a filter value cannot be used")
    except (ValueError, TypeError, OverflowError, ValidationError) as exc:
        # A filter's own conversion of a crafted value (int(), date arithmetic).
        refuse(request, f"a filter value cannot be used ({_shown(str(exc))})")


def _check_choices(request, spec: ChoicesFieldListFilter) -> None:
    allowed = {str(value) for value, _label in spec.field.flatchoices}
    values = spec.lookup_val or []
    for value in values if isinstance(values, list) else [values]:
        if value not in allowed:
            refuse(
                request,
                f"{_shown(value)} is not a {spec.field.verbose_name} "
                f"(one of: {', '.join(sorted(allowed))})",
            )


def _selection_is_valid(model, values: list[str]) -> bool:
    pk = model._meta.pk
    for value in values:
        if unusable(value):
            return False
        try:
            converted = pk.to_python(value)
        except ValidationError:
            return False
        if isinstance(pk, models.IntegerField) and not -MAX_INTEGER_PK <= converted <= (
            MAX_INTEGER_PK
        ):
            return False
    return True


class SafeAdminMixin:
    """A base of every registered ModelAdmin (a test checks it)."""

    def changelist_view(self, request, extra_context=None):
        # Django lands on `?e=1` after a refused filter; opened on its own
        # (a bookmark, a shared link) it would say nothing.
        if ERROR_FLAG in request.GET and not len(messages.get_messages(request)):
            messages.warning(
                request,
                "A filter in the link could not be applied, so the whole list is shown. "
                "Choose the filters again on the right.",
            )
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request, **kwargs):
        return _safe(super().get_changelist(request, **kwargs))

    def response_action(self, request, queryset):
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not _selection_is_valid(self.model, selected):
            self.message_user(
                request,
                "Nothing was done: the selection holds values that are not "
                f"{self.model._meta.verbose_name} ids.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)
