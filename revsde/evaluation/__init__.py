"""Measuring samplers and models: closed-form targets (``targets``), exact output laws on
Gaussians (``exact``), sample metrics (``metrics``), the solver-accuracy study behind
``revsde compare`` (``compare``) and likelihoods (``likelihood``)."""

from . import exact, likelihood, metrics, targets

__all__ = ["exact", "likelihood", "metrics", "targets"]
