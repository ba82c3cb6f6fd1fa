"""Exceptions raised by kinetix.

Every error a user can cause derives from :class:`KinetixError`; the CLI prints its message on
one line and exits non-zero. Messages name the file, the field and the fix.
"""


class KinetixError(Exception):
    """Base class of every error kinetix raises on purpose."""


class MechanismError(KinetixError):
    """A mechanism file or definition is malformed or inconsistent."""


class DatasetError(KinetixError):
    """A trajectory dataset cannot be read or written."""


class SolverError(KinetixError):
    """An integration failed, or a solver was called with bad arguments.

    ``member`` is the index of the failing batch member (``None`` for argument errors) and
    ``t`` the time it reached.
    """

    def __init__(self, message: str, *, member: int | None = None, t: float | None = None):
        super().__init__(message)
        self.member = member
        self.t = t


class RegistryError(KinetixError, LookupError):
    """A named piece (mechanism, solver, network, loss, trainer) is unknown or registered twice."""


class ConfigError(KinetixError):
    """A configuration value (CLI option, TOML config) is invalid."""


class SurrogateError(KinetixError):
    """A saved surrogate cannot be loaded: missing, truncated, tampered or foreign."""
