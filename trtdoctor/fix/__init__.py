"""Turning findings into an ordered plan, and writing its environment part safely."""


class FixError(Exception):
    """A write that cannot be done; nothing was changed."""
