"""Every example in the SDK's docstrings runs (``>>>`` doctests)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import promptloop.sdk

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(promptloop.sdk.__path__, prefix="promptloop.sdk.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
