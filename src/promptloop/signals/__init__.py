"""Implicit signals: turn what users do into feedback events, idempotently and incrementally."""
