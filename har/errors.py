"""The project's expected errors: bad input or a missing artifact, never a bug.

Each carries a message that names the file, key or name at fault (and, for a missing artifact, how to get it).
`har-prep` prints such an error as one `error: <message>` line and exits 1, with the traceback only under
`--debug`; every other exception is a bug and keeps its full traceback. The specific errors of the library
(`ConfigError`, `SkeletonFormatError`, `VideoError`...) derive from `HarError` and from the builtin they always
were (ValueError, KeyError, FileNotFoundError...), so `except ValueError` code keeps working.
"""
from __future__ import annotations


class HarError(Exception):
    """Base of every expected error; its message is complete on its own (file, key or name, and what to do)."""


class MissingArtifactError(HarError, FileNotFoundError):
    """A store, a trained model, a params file or an input file that is not there."""


class WrongArtifactError(HarError, ValueError):
    """A store that exists but holds another kind of artifact than the one asked for."""


class UnknownNameError(HarError, KeyError):
    """A model, sample or other name that does not exist; the message lists or points to the ones that do."""

    def __str__(self) -> str:  # KeyError would print repr(message), quotes and escapes included
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


def one_line(error: BaseException) -> str:
    """The message of an expected error on a single line (whitespace runs, newlines included, become one space).

    An OSError raised by the system ('[Errno 2] No such file or directory: x') reads as '<file>: <reason>'.
    """
    if isinstance(error, OSError) and not isinstance(error, HarError) and error.strerror:
        names = " -> ".join(str(n) for n in (error.filename, error.filename2) if n is not None)
        text = f"{names}: {error.strerror}" if names else error.strerror
    else:
        text = str(error)
    return " ".join(text.split()) or type(error).__name__
