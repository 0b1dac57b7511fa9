"""The one exception type a user can hit, its specialisations, and the one way to put a reason on a line."""

from __future__ import annotations


def one_line(text: object) -> str:
    """Text on one line: runs of whitespace become one space, other control characters are escaped (names
    read from files may hold newlines or terminal codes)."""
    flat = " ".join(str(text).split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)


def describe(exc: BaseException) -> str:
    """An exception as one line: its type (unless it is the user-facing EmergenceError) and message."""
    message = one_line(exc)
    if isinstance(exc, EmergenceError):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class EmergenceError(Exception):
    """A problem the user can fix; the message (always one line) says what to do."""

    def __init__(self, message: object = ""):
        super().__init__(one_line(message))


class NoElbowFound(EmergenceError):
    """The data cannot locate an emergence elbow; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(f"no elbow found: {reason}")
        self.reason = one_line(reason)
