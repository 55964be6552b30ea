"""SIMULATED traffic for a fictional product (Acme Notes), to explore and benchmark promptloop.

Nothing here comes from real users: every generated record carries
``metadata["simulated"] = True``. The generator is :mod:`promptloop.demo.simulate`; its
``simulate()`` function is deliberately not re-exported here, because a package attribute
named ``simulate`` would shadow the submodule (``import promptloop.demo.simulate as m``
would then bind the function).
"""

from __future__ import annotations

from promptloop.demo.simulate import (
    DemoBatch,
    SimulatedTraffic,
    Simulation,
    demo_is_loaded,
    iter_batches,
    load_demo,
)

__all__ = [
    "DemoBatch",
    "SimulatedTraffic",
    "Simulation",
    "demo_is_loaded",
    "iter_batches",
    "load_demo",
]
