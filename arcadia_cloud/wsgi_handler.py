"""The WSGI entry point's request: what Django decides before any middleware runs.

Two things happen in Django's `WSGIRequest.__init__`, ahead of every
middleware, that a client controls:

- the `charset` of `Content-Type` becomes the request's encoding if Python
  knows a codec of that name. `rot13`, `zlib`, `base64` are codecs but not text
  encodings, and setting the encoding re-decodes the query string at once: a
  `LookupError` escaped as a bare 500 on every route. Text codecs that are not
  ASCII-compatible (`utf-16`, `cp037`) or that decode escapes (`utf-7`,
  `unicode-escape`) turn a query string into garbage or lone surrogates.
  Here a charset is used only if it reads ASCII as ASCII; any other one is
  recorded and refused with a 400 by `RequestGuardMiddleware`.
- the body stream is limited to `Content-Length`. A chunked body has none
  (gunicorn de-chunks it and marks the input `wsgi.input_terminated`), so it
  was silently read as empty. Here it is read up to the body limit: past the
  limit the request is refused with 413, and a server that cannot terminate
  the input (Django's runserver) gets 411.

The refusals are answered by middleware, so they carry the request id and the
JSON error shape like any other answer.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings

import django
from django.conf import settings
from django.core.handlers.wsgi import LimitedStream, WSGIHandler, WSGIRequest
from django.utils.http import parse_header_parameters

logger = logging.getLogger(__name__)

# Printable ASCII plus the sequences escape-decoding codecs would rewrite: a
# usable charset decodes all of it to itself.
_PROBE = bytes(range(0x20, 0x7F)) + b" +2AA- \\u0041 \\x41 \t\r\n"
_PROBE_TEXT = _PROBE.decode("ascii")


@functools.lru_cache(maxsize=64)
def usable_charset(name: str) -> bool:
    """True if `name` is a text encoding that reads ASCII as ASCII."""
    try:
        with warnings.catch_warnings():
            # escape-decoding codecs warn about the probe's "\\]"; they fail it anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            return _PROBE.decode(name) == _PROBE_TEXT
    except (LookupError, UnicodeError, ValueError, TypeError):
        return False


def _is_chunked(environ) -> bool:
    encodings = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encodings and not environ.get("CONTENT_LENGTH")


def body_limit(path: str) -> int:
    """The largest body read for `path`: the API's limit under /api/, Django's
    form-data limit elsewhere (the admin)."""
    if path.startswith("/api/"):
        return settings.ARCADIA_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or settings.ARCADIA_MAX_BODY_BYTES


class ArcadiaRequest(WSGIRequest):
    #: The charset of Content-Type when it cannot be used (answered with 400).
    refused_charset: str | None = None
    #: 411 / 413 / 400 when the chunked body cannot be read (see module notes).
    refused_body: int | None = None

    def __init__(self, environ):
        super().__init__(environ)
        if _is_chunked(environ):
            self._read_chunked_body(environ)

    def _set_content_type_params(self, meta):
        # Django's own, except for which charsets become the encoding.
        self.content_type, self.content_params = parse_header_parameters(
            meta.get("CONTENT_TYPE", "")
        )
        charset = self.content_params.get("charset")
        if charset is None:
            return
        if usable_charset(charset):
            self.encoding = charset
        else:
            self.refused_charset = charset

    def _read_chunked_body(self, environ) -> None:
        if not environ.get("wsgi.input_terminated"):
            self.refused_body = 411
            return
        limit = body_limit(self.path)
        try:
            body = _read_at_most(environ["wsgi.input"], limit + 1)
        except Exception:  # the client's framing, whatever the server raises for it
            logger.warning("Unreadable chunked request body on %s", self.path, exc_info=True)
            self.refused_body = 400
            return
        if len(body) > limit:
            self.refused_body = 413
            return
        self.META["CONTENT_LENGTH"] = str(len(body))
        self._stream = LimitedStream(io.BytesIO(body), len(body))


def _read_at_most(stream, size: int) -> bytes:
    """Up to `size` bytes, until the (terminated) input ends: a read may return
    less than asked before the end."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class ArcadiaWSGIHandler(WSGIHandler):
    request_class = ArcadiaRequest


def get_wsgi_application() -> ArcadiaWSGIHandler:
    """Django's `get_wsgi_application`, with the request above."""
    django.setup(set_prefix=False)
    return ArcadiaWSGIHandler()
