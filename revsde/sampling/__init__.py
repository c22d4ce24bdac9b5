"""Sampling a reverse SDE or probability-flow ODE: ``sample`` (prior draw, grid, solve and the
last denoising step), ``denoise`` (Tweedie's formula), grids tuned to a model (``tuning``),
stored Brownian paths shared by many solves (``brownian``) and the coupled estimates made on
them (``coupling``), and fixed-step solves captured as CUDA graphs (``capture``)."""

from . import brownian, capture, coupling, denoise, sample, tuning

__all__ = ["brownian", "capture", "coupling", "denoise", "sample", "tuning"]
