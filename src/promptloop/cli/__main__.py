"""``python -m promptloop.cli``: the same as the ``promptloop`` command."""

from promptloop.cli.main import run

run()
