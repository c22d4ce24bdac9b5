"""Trained networks as scores: the adapter from any prediction type and time convention
(``adapter``), the one place that converts between predictions (``predictions``), denoisers of
other libraries' conventions (``denoisers``), guidance and thresholding (``guidance``,
``thresholding``), the small networks of the examples (``nets``) and their checkpoints
(``checkpoint``)."""

from . import adapter, checkpoint, denoisers, guidance, nets, predictions, thresholding

__all__ = ["adapter", "checkpoint", "denoisers", "guidance", "nets", "predictions", "thresholding"]
