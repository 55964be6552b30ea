"""Internals of failure clustering: grouping texts, storing clusters, their statistics."""
