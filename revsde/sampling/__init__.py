"""Sampling a reverse SDE or probability-flow ODE: ``sample`` (prior draw, grid, solve and the
last denoising step), ``denoise`` (Tweedie's formula) and grids tuned to a model (``tuning``)."""

from . import denoise, sample, tuning

__all__ = ["denoise", "sample", "tuning"]
