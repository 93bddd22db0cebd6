"""Errors a user can cause, and the one place they become one line and exit status 2.

House rule: a bad path, config value or input is one ``error: <what is wrong> — <what to do>`` line on stderr
and exit 2 (so a supervisor does not retry it); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

USER_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """A problem the user can fix (bad path, bad config value, bad input); the message says what to do."""

    def __init__(self, what: str, fix: str = ""):
        super().__init__(f"{what} — {fix}" if fix else what)


class ConfigError(UserError, ValueError):
    """A configuration key or value that cannot work (a ValueError too, for callers that catch those)."""


def report_user_error(error: BaseException) -> int:
    """Print `error` as the one ``error:`` line; returns the exit status for a `main` that returns codes."""
    print(f"error: {error}", file=sys.stderr)
    return USER_ERROR_EXIT_CODE


def exit_for_user_error(error: BaseException) -> SystemExit:
    """`report_user_error`, as the SystemExit the caller raises."""
    return SystemExit(report_user_error(error))


@contextmanager
def user_errors_exit(*also: type[BaseException]) -> Iterator[None]:
    """Inside, a UserError (or one of `also`: exception types a command declares to be the user's doing,
    e.g. a missing checkpoint) becomes one stderr line and exit code 2."""
    try:
        yield
    except (UserError, *also) as error:
        raise exit_for_user_error(error) from None


def exit_on_user_error(main: Callable) -> Callable:
    """Decorate an entry point with `user_errors_exit()`."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        with user_errors_exit():
            return main(*args, **kwargs)

    return wrapper
