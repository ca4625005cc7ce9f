"""Text from outside (tapes, statements, posted payloads, deal files, names): control characters
refused.

A NUL truncates a C string downstream, a bare carriage return or an escape sequence rewrites what
a terminal or a log shows, a bidirectional override reorders what a reader sees of an id. None of
them belongs in a loan id, a reference or a reason. One-line fields refuse every control
character; multi-line text (a reason, a deal file) keeps tab, line feed and carriage return.
"""

from __future__ import annotations

import re
from typing import Any

_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
_MULTI_LINE = re.compile(f"[{_CONTROLS}]")
_ONE_LINE = re.compile(f"[\t\n\r{_CONTROLS}]")


class TextError(ValueError):
    """Text with a control character; the message names the character and where it is."""


def find_control(text: str, *, multiline: bool = False) -> re.Match[str] | None:
    """The first control character of ``text`` (None when it has none)."""
    return (_MULTI_LINE if multiline else _ONE_LINE).search(text)


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` is refused (the first control character and its position), or None."""
    found = find_control(text, multiline=multiline)
    if found is None:
        return None
    return f"control character U+{ord(found.group()):04X} at character {found.start() + 1}"


def check_text(text: str, what: str, *, multiline: bool = False) -> str:
    """``text`` itself, or :class:`TextError` naming ``what`` and the control character."""
    problem = control_character(text, multiline=multiline)
    if problem is not None:
        raise TextError(f"{what}: {problem}")
    return text


def check_payload_text(value: Any, path: str = "data") -> None:
    """Every string of a JSON payload (keys too) checked as multi-line text."""
    if isinstance(value, str):
        check_text(value, path, multiline=True)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(str(k), f"{path} key", multiline=False)
            check_payload_text(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_payload_text(v, f"{path}[{i}]")
