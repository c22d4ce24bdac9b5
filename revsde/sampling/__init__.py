"""Sampling a reverse SDE or probability-flow ODE: ``sample`` (prior draw, grid, solve and the
last denoising step), ``denoise`` (Tweedie's formula), grids tuned to a model (``tuning``),
stored Brownian paths shared by many solves (``brownian``) and the coupled estimates made on
them (``coupling``)."""

from . import brownian, coupling, denoise, sample, tuning

__all__ = ["brownian", "coupling", "denoise", "sample", "tuning"]
