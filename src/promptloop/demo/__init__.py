"""SIMULATED traffic for a fictional product (Acme Notes), to explore and benchmark promptloop.

Nothing here comes from real users: every generated record carries
``metadata["simulated"] = True``. See :mod:`promptloop.demo.simulate`.
"""

from __future__ import annotations

from promptloop.demo.simulate import (
    DemoBatch,
    SimulatedTraffic,
    Simulation,
    demo_is_loaded,
    iter_batches,
    load_demo,
    simulate,
)

__all__ = [
    "DemoBatch",
    "SimulatedTraffic",
    "Simulation",
    "demo_is_loaded",
    "iter_batches",
    "load_demo",
    "simulate",
]
