"""Trained networks as scores: the adapter from any prediction type and time convention
(``adapter``; the conversions between predictions are ``revsde.predictions``), denoisers of
other libraries' conventions (``denoisers``), guidance and thresholding (``guidance``,
``thresholding``), the small networks of the examples (``nets``), their checkpoints (``checkpoint``)
and what a network returns, as a tensor (``outputs``)."""

from . import adapter, checkpoint, denoisers, guidance, nets, outputs, thresholding

__all__ = ["adapter", "checkpoint", "denoisers", "guidance", "nets", "outputs", "thresholding"]
