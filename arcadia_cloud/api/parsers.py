"""The API's JSON parser: DRF's, plus a 400 for bodies nested too deeply and for
lone surrogates.

Python's JSON decoder recurses once per nesting level and raises RecursionError
(not ValueError) past the interpreter's limit; a 64 KiB body of `[` is enough.

JSON lets a string hold `"\\ud800"`, an escape of half a surrogate pair, which
is no character: such a string cannot be stored, nor encoded as UTF-8 again (an
error message that echoed it failed in the renderer). A valid pair decodes to
one character, so any code point left in U+D800-U+DFFF after parsing is a lone
half, and the body is refused here, before anything reads it.
"""

import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(data) -> bool:
    """Any key or string value of a parsed JSON document holds a lone surrogate.
    Iterative: a document may be nested close to the interpreter's limit."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        if has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate.")
        return data
