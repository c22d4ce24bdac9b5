"""Measuring samplers and models: closed-form targets (``targets``) and the problems built on
them (``problems``), exact output laws on Gaussians (``exact``), sample metrics (``metrics``),
likelihoods (``likelihood``), and the solver-accuracy study behind ``revsde compare``: its
settings and runner (``compare``), its coupled Monte Carlo pass (``monte_carlo``), its study
of a learned model (``checkpoint_study``), its results (``results``) and report (``report``)."""

from . import (
    checkpoint_study,
    compare,
    exact,
    likelihood,
    metrics,
    monte_carlo,
    problems,
    report,
    results,
    targets,
)

__all__ = [
    "checkpoint_study",
    "compare",
    "exact",
    "likelihood",
    "metrics",
    "monte_carlo",
    "problems",
    "report",
    "results",
    "targets",
]
