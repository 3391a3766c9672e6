"""The API's JSON renderer: DRF's, its bytes written by orjson.

A page of fifty deployments is ~700 values; DRF's renderer (the standard
library's encoder) takes ~80 µs to write it, orjson ~6 µs: on the list
endpoint about 5% of a request's CPU. The output is DRF's byte for byte
(compact separators, UTF-8 rather than `\\u` escapes, U+2028 and U+2029
escaped, timestamps, dates, UUIDs, lazy strings as DRF's encoder writes
them); `tests/foundation/test_renderer.py` holds the two to the same bytes
over generated documents.

Whatever orjson will not write the way DRF does goes to DRF's own renderer:
a pretty-printed answer (`Accept: application/json; indent=4`), and any
document orjson refuses (a non-string key, an integer past 64 bits, nesting
past 254 levels, a lone surrogate, a type DRF's encoder does not know), which
then renders, or fails, exactly as it did. Floats are the one value orjson
writes its own way ("1e16" for Python's "1e+16"); the API has none (money is
integer minor units).
"""

from __future__ import annotations

import orjson
from rest_framework import renderers

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            data is None
            or self.ensure_ascii
            or not self.compact
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            # DRF's encoder decides what orjson leaves out (datetimes, lazy strings, ...)
            written = orjson.dumps(data, default=self.encoder_class().default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80" in written:  # the lead bytes of U+2028 and U+2029 in UTF-8
            written = written.replace(b"\xe2\x80\xa8", b"\\u2028").replace(
                b"\xe2\x80\xa9", b"\\u2029"
            )
        return written
