"""The admin's one way of writing a date and a time (settings.FORMAT_MODULE_PATH):
"2026-12-01 14:03 UTC", whatever the field or page. Every stored time is UTC
(USE_TZ, TIME_ZONE = "UTC"), so the zone written is always the one shown.
The console's `when` filter adds the relative time beside it."""

DATETIME_FORMAT = r"Y-m-d H:i \U\T\C"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
TIME_FORMAT = r"H:i \U\T\C"
