"""The admin's middleware (sessions, the session's user, messages, CSRF,
clickjacking protection), each kept off the API path: settings.MIDDLEWARE
lists these instead of Django's own. See `arcadia_cloud.api.middleware.outside_api`."""

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.csrf import CsrfViewMiddleware as _Csrf

from arcadia_cloud.api.middleware import outside_api

SessionMiddleware = outside_api(_Sessions)
CsrfViewMiddleware = outside_api(_Csrf)
AuthenticationMiddleware = outside_api(_Authentication)
MessageMiddleware = outside_api(_Messages)
XFrameOptionsMiddleware = outside_api(_XFrameOptions)
