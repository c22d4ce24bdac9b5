"""The one place that converts between what a network may predict: the score, the noise, the
clean data and the velocity. The adapter (and through it the training loss), the reverse SDE
and Tweedie's denoiser call these; no solver converts by hand. It imports nothing of revsde: the
lowest layer of the package.

With x_t = alpha x_0 + sigma eps (Song et al. 2021; the mathematics page of the docs),
grad_x log p(x_t | x_0) = -eps / sigma, and the minimisers of the denoising losses satisfy

    score:  s
    eps:    eps_hat = -sigma s
    x0:     x0_hat = (x + sigma^2 s) / alpha                    (Tweedie's formula, Efron 2011)
    v:      v_hat = alpha eps_hat - sigma x0_hat               (Salimans & Ho 2022)

Inverting the last: eps_hat = (sigma x + alpha v_hat) / (alpha^2 + sigma^2), which is
sigma x + alpha v_hat for VP processes (alpha^2 + sigma^2 = 1).

A flow-matching network predicts the velocity of the interpolant instead,

    velocity:  u_hat = alpha' x0_hat + sigma' eps_hat     (' = d/dt)

(Lipman et al. 2023; Liu et al. 2023: u = eps - x_0 for alpha = 1 - t, sigma = t), so its
converters also take the rates (alpha', sigma'); with det = alpha sigma' - sigma alpha',
eps_hat = (alpha u_hat - alpha' x) / det.

Every function takes ``alpha`` and ``sigma`` already shaped to broadcast against ``x``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

#: ``(out, x, alpha, sigma)`` -> tensor; those in ``NEEDS_RATES`` also take ``dalpha, dsigma``
Converter = Callable[..., Tensor]


def score_from_eps(eps: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """s = -eps_hat / sigma."""
    return -eps / sigma


def score_from_x0(x0: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """s = (alpha x0_hat - x) / sigma^2."""
    return (alpha * x0 - x) / sigma**2


def score_from_v(v: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """s = -eps_hat / sigma with eps_hat = (sigma x + alpha v_hat) / (alpha^2 + sigma^2)."""
    return score_from_eps((sigma * x + alpha * v) / (alpha**2 + sigma**2), x, alpha, sigma)


def x0_from_score(score: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """Tweedie's posterior mean x0_hat = (x + sigma^2 s) / alpha."""
    return (x + sigma**2 * score) / alpha


def eps_from_score(score: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """eps_hat = -sigma s."""
    return -sigma * score


def v_from_score(score: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """v_hat = alpha eps_hat - sigma x0_hat."""
    eps = eps_from_score(score, x, alpha, sigma)
    return alpha * eps - sigma * x0_from_score(score, x, alpha, sigma)


def score_from_velocity(
    u: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor, dalpha: Tensor, dsigma: Tensor
) -> Tensor:
    """s = -eps_hat / sigma, eps_hat = (alpha u_hat - alpha' x) / (alpha sigma' - sigma alpha')."""
    eps = (alpha * u - dalpha * x) / (alpha * dsigma - sigma * dalpha)
    return score_from_eps(eps, x, alpha, sigma)


def velocity_from_score(
    score: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor, dalpha: Tensor, dsigma: Tensor
) -> Tensor:
    """u_hat = alpha' x0_hat + sigma' eps_hat."""
    return dalpha * x0_from_score(score, x, alpha, sigma) + dsigma * eps_from_score(
        score, x, alpha, sigma
    )


def _identity(out: Tensor, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    return out


#: predictions whose converters also take the rates (d alpha/dt, d sigma/dt)
NEEDS_RATES = frozenset({"velocity"})

#: other libraries' names for the same predictions (diffusers' ``prediction_type`` values)
ALIASES = {
    "epsilon": "eps",
    "sample": "x0",
    "v_prediction": "v",
    "flow_prediction": "velocity",
    "flow": "velocity",
}

#: prediction name -> the score it implies
TO_SCORE: dict[str, Converter] = {
    "score": _identity,
    "eps": score_from_eps,
    "x0": score_from_x0,
    "v": score_from_v,
    "velocity": score_from_velocity,
}

#: prediction name -> that prediction from the score
FROM_SCORE: dict[str, Converter] = {
    "score": _identity,
    "eps": eps_from_score,
    "x0": x0_from_score,
    "v": v_from_score,
    "velocity": velocity_from_score,
}


def canonical(prediction: str) -> str:
    """The revsde name of a prediction given in revsde's or diffusers' words; an unknown
    name is an error that lists the valid ones."""
    name = ALIASES.get(prediction, prediction) if isinstance(prediction, str) else prediction
    if name not in TO_SCORE:
        raise ValueError(
            f"prediction must be one of {sorted(TO_SCORE)} or an alias {sorted(ALIASES)}, "
            f"got {prediction!r}"
        )
    return name
