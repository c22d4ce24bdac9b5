"""Model factories for `revsde sample --model tests.cli_models:gaussian` style tests."""

import revsde
from revsde.evaluation.problems import gaussian_2d


def gaussian():
    """(sde, score, event_shape): the exact score of a 2-D Gaussian through the VP process."""
    sde = revsde.VPSDE()
    target = gaussian_2d()
    return sde, target.score(sde), (2,)


def unshaped():
    """(sde, score): the same model without its event shape, for --shape."""
    sde, score, _ = gaussian()
    return sde, score
