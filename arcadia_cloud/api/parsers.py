"""The API's JSON parser: DRF's, plus a 400 for bodies nested too deeply.

Python's JSON decoder recurses once per nesting level and raises RecursionError
(not ValueError) past the interpreter's limit; a 64 KiB body of `[` is enough.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
