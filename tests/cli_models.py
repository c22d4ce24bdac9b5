"""Model factories for `revsde sample --model tests.cli_models:gaussian` style tests."""

import torch

import revsde
from revsde.evaluation.targets import Gaussian


def gaussian():
    """(sde, score, event_shape): the exact score of a 2-D Gaussian through the VP process."""
    sde = revsde.VPSDE()
    target = Gaussian(torch.tensor([1.0, -1.0]), torch.tensor([[1.0, 0.5], [0.5, 0.8]]))
    return sde, target.score(sde), (2,)
