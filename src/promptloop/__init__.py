"""promptloop."""
