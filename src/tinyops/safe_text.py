"""Text from devices is untrusted: make it harmless before a terminal or a browser sees it.

A device chooses its class names, error samples, source tags and more. Printed
raw, an escape sequence (``ESC [ 2 J``, OSC 52 clipboard writes, a C1 CSI) or a
bidi override could rewrite what the operator sees. :func:`for_terminal`
replaces every control and bidi-control character by a visible ``\\xNN`` /
``\\uNNNN`` escape; :func:`for_html` also escapes markup.
"""

from __future__ import annotations

import html
import re
from typing import Any

# C0 controls, DEL, C1 controls, and the Unicode bidi / zero-width controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def for_terminal(value: Any, *, keep_newlines: bool = False) -> str:
    """``str(value)`` with every control character shown as an escape (newlines kept if asked)."""
    text = value if isinstance(value, str) else str(value)
    return (_CONTROL_KEEP_LINES if keep_newlines else _CONTROL).sub(_escape, text)


def for_html(value: Any) -> str:
    """Escaped for HTML text and attribute values, control characters shown as escapes."""
    return html.escape(for_terminal(value), quote=True)
