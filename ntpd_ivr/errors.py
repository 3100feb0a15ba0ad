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
