"""The one exception a reader raises when a file cannot be read at all."""

from __future__ import annotations


class UnreadableFile(Exception):
    """A file the pipeline cannot read; the message is one line saying what and why."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
