"""Training a score network: the denoising score-matching loss for any prediction type
(``dsm``), the training loop ``fit`` (``loop``) and the toy datasets of the worked example
(``datasets``)."""

from . import datasets
from .dsm import ImportanceSampler, dsm_loss
from .loop import fit

__all__ = ["ImportanceSampler", "datasets", "dsm_loss", "fit"]
