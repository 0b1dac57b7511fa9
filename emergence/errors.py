"""The one exception type a user can hit, and its specialisations."""


class EmergenceError(Exception):
    """A problem the user can fix; the message says what to do. The CLI prints it on one line."""


class NoElbowFound(EmergenceError):
    """The data cannot locate an emergence elbow; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(f"no elbow found: {reason}")
        self.reason = reason
