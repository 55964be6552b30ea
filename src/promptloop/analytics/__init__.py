"""Answers over the store: the seed's queries, rates per prompt version, and (later) statistics."""
