"""Turning findings into an ordered plan, and writing its environment part safely."""
