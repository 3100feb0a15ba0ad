"""The exception tree. Each fault class maps to what the caller experiences: a human."""


class NtpdIvrError(Exception):
    """Base of every error raised by ntpd-ivr on purpose."""


class ConfigError(NtpdIvrError):
    """A settings or configuration file is wrong; the message names the file and key."""


class StackError(NtpdIvrError):
    """Provisioning or starting a local component (Asterisk, PostgreSQL) failed."""


class AgiError(NtpdIvrError):
    """A FastAGI session failed: protocol violation, timeout or hang-up."""


class AgiHangup(AgiError):
    """The caller hung up (or the channel is dead) while we were talking to it."""


class AgiTimeout(AgiError):
    """Asterisk did not answer a command in time."""


class AgiProtocolError(AgiError):
    """Asterisk sent something that is not FastAGI."""


class AmiError(NtpdIvrError):
    """An AMI action failed or timed out."""


class Refusal(NtpdIvrError):
    """A request a domain refuses: its HTTP status, its error id and the reason (the
    message). Each domain's errors derive from it; the web app maps every one the same way
    (ntpd_ivr/web/app.py: `{"error": id, "reason": text}`, or a page for a browser)."""

    status = 400
    error = "bad-request"
    pages = True  # False: always JSON, even to a browser's form (the /api/v1 of machines)

    def __init__(self, reason: str, *, status: int | None = None,
                 error: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error
