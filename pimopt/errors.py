"""Exceptions raised by pimopt.

Every error caused by user input derives from :class:`InputError`; the CLI
turns it into a one-line message and exit code 2.
"""

from __future__ import annotations


class PimoptError(Exception):
    """Base class of all pimopt errors."""


class InputError(PimoptError, ValueError):
    """Invalid user input: a parameter, a file or an instance.

    The message names the offending field, its value and what is allowed.
    """


class Refused(InputError):
    """A method refuses an instance or an option up front (a documented limit, such as
    a model larger than the method builds); the message says why and what to use."""


class VerificationError(PimoptError):
    """A method produced a solution that breaks a rule (a bug in that method, never bad
    input): the verifier rejected its schedule, or its chains or claimed cost are wrong."""


class InfeasibleError(PimoptError):
    """A mapping or schedule request that cannot be satisfied."""


def field_error(owner: str, field: str, value: object, allowed: str) -> InputError:
    """Build an :class:`InputError` that names the field, the value and what is allowed."""
    return InputError(f"{owner}.{field} = {value!r} is invalid: {allowed}")
