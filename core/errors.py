"""The exceptions the pipeline turns into a failed outcome with a one-line message."""

from __future__ import annotations


class UnreadableFile(Exception):
    """A file the pipeline cannot read; the message is one line saying what and why."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class CannotStore(Exception):
    """The warehouse could not write a file's data (the disk is full, say): not the file's
    fault, and nothing of it is kept; the message is one line saying what and where."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
