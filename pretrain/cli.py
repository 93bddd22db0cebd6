"""The pretraining tools' user-error type.

`UsageError` is a `plumbing.user_error.UserError` (one `error:` line, exit 2, mapped in one place); it keeps
its name so the tools read as before. The command-line front end itself is `plumbing.command_line`.
"""

from __future__ import annotations

from plumbing.user_error import UserError


class UsageError(UserError):
    """A mistake the user can fix in a tool's arguments or inputs; the CLI prints it as one line and exits 2."""
