"""Exceptions that cross layer boundaries, each carrying a message fit to show a user as is."""

from __future__ import annotations


class VnettopError(Exception):
    """Base: the message is one clear line for the user; never shown with a traceback."""


class SnapshotFormatError(VnettopError):
    """A saved snapshot file is not one vnettop can read (malformed JSON, wrong schema, bad field)."""


class NotFoundError(VnettopError):
    """A device or namespace named by the user does not exist (or no longer exists)."""


class ReadOnlyError(VnettopError):
    """A change was refused because vnettop runs read-only."""


class ValidationError(VnettopError):
    """A value given for a change is invalid; the message says which and why."""


class ActionError(VnettopError):
    """The kernel refused a change; the message translates the errno for a human."""


class UsageError(Exception):
    """The command line itself is wrong; shown as one line, exit status 2.

    Not a VnettopError: the CLI tells a usage mistake (2) from a failure (1) by this class. It lives here,
    not in the CLI, so that a command's own module (a recording's time argument, say) can raise it without
    importing the CLI it sits below."""
