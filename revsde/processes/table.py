"""The VP process of a discrete DDPM table, exact at the table's times.

A network trained as in Ho et al. (2020) or with diffusers saw, at training index k = 0..N-1,

    x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps,   abar_k = prod_{j <= k} (1 - beta_j).

`DiscreteVPSDE` places index k at time t_k = (k + 1)/N and the clean data at t = 0 (abar = 1),
so that alpha(t_k)^2 = abar_k exactly, and interpolates log alpha linearly between the nodes.
The interpolation makes beta(t) = -2 d log(alpha)/dt piecewise constant,

    beta(t) = -N log(1 - beta_{k}) on ((k)/N, (k + 1)/N],

the continuous-time rate whose flow over one interval is exactly the chain's step, and the
process is VP (sigma^2 = 1 - alpha^2, g^2 = beta) with f and g in closed form. (k-diffusion's
``DiscreteSchedule`` interpolates log sigma in the index instead; at the nodes the two agree.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .._checks import TimeLike
from .song import _BetaSchedule

#: the ``beta_schedule`` names of a diffusers scheduler config that ``from_config`` knows
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


class DiscreteVPSDE(_BetaSchedule):
    """VP process of a table abar_0 > abar_1 > ... > abar_{N-1} (see the module docstring).

    Build it with ``from_betas``, ``from_alphas_cumprod``, ``from_config`` (a diffusers
    scheduler config) or ``from_scheduler`` (a diffusers scheduler). Time t_k = (k + 1)/N is
    training index k: ``index(t) = N t - 1``, which ``ScoreAdapter(time_input="index")`` feeds
    to the network. Sampling runs from t = 1 (index N - 1) down to ``default_t_min`` = 1/N
    (index 0, the least noise the network was trained at); a final Tweedie step there gives
    DDPM's last step exactly. Prior N(0, I).
    """

    def __init__(self, alphas_cumprod: Tensor, *, validate_args: bool = True) -> None:
        super().__init__(validate_args=validate_args)
        ac = torch.as_tensor(alphas_cumprod).detach().to(device="cpu", dtype=torch.float64)
        if ac.dim() != 1 or ac.numel() < 2:
            raise ValueError(
                f"alphas_cumprod must be a 1-d table of at least 2 entries, got shape "
                f"{tuple(ac.shape)}"
            )
        if not bool(torch.isfinite(ac).all()) or not bool(((ac > 0) & (ac < 1)).all()):
            raise ValueError("alphas_cumprod must hold finite values in (0, 1)")
        if not bool((ac[1:] < ac[:-1]).all()):
            raise ValueError("alphas_cumprod must be strictly decreasing")
        self.num_timesteps = ac.numel()
        self.alphas_cumprod = ac
        # log alpha at the nodes t = 0, 1/N, ..., 1 (the first is the clean data)
        self._log_alpha_nodes = torch.cat([ac.new_zeros(1), 0.5 * torch.log(ac)])
        self._rate = -2.0 * self.num_timesteps * torch.diff(self._log_alpha_nodes)  # beta per cell
        self._tables: dict[tuple[torch.dtype, torch.device], tuple[Tensor, Tensor]] = {}
        self.default_t_min = 1.0 / self.num_timesteps

    # ----- constructors -----
    @classmethod
    def from_betas(cls, betas: Tensor, **kwargs: Any) -> DiscreteVPSDE:
        """From DDPM's beta_1..beta_N (each in (0, 1)): abar_k = prod_{j <= k} (1 - beta_j)."""
        betas = torch.as_tensor(betas).detach().to(dtype=torch.float64, device="cpu")
        if betas.dim() != 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must be a 1-d table of values in (0, 1)")
        return cls(torch.cumprod(1.0 - betas, dim=0), **kwargs)

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: Tensor, **kwargs: Any) -> DiscreteVPSDE:
        """From the table abar_0..abar_{N-1} itself."""
        return cls(alphas_cumprod, **kwargs)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> DiscreteVPSDE:
        """From a diffusers scheduler config (``num_train_timesteps``, ``beta_start``,
        ``beta_end``, ``beta_schedule`` in ``BETA_SCHEDULES``, or ``trained_betas``), with the
        tables diffusers builds: linear ``linspace(beta_start, beta_end, N)``, scaled_linear
        ``linspace(sqrt(beta_start), sqrt(beta_end), N)^2``, squaredcos_cap_v2 the cosine
        abar of Nichol & Dhariwal (2021) with each beta capped at 0.999."""
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping, got {type(config).__name__}")
        if config.get("trained_betas") is not None:
            return cls.from_betas(torch.as_tensor(config["trained_betas"]), **kwargs)
        n = int(config.get("num_train_timesteps", 1000))
        start = float(config.get("beta_start", 1e-4))
        end = float(config.get("beta_end", 0.02))
        schedule = config.get("beta_schedule", "linear")
        if schedule == "linear":
            betas = torch.linspace(start, end, n, dtype=torch.float64)
        elif schedule == "scaled_linear":
            betas = torch.linspace(math.sqrt(start), math.sqrt(end), n, dtype=torch.float64) ** 2
        elif schedule == "squaredcos_cap_v2":
            k = torch.arange(n + 1, dtype=torch.float64) / n
            abar = torch.cos((k + 0.008) / 1.008 * math.pi / 2) ** 2
            betas = (1.0 - abar[1:] / abar[:-1]).clamp_max(0.999)
        else:
            raise ValueError(
                f"config['beta_schedule'] must be one of {list(BETA_SCHEDULES)}, got {schedule!r}"
            )
        return cls.from_betas(betas, **kwargs)

    @classmethod
    def from_scheduler(cls, scheduler: Any, **kwargs: Any) -> DiscreteVPSDE:
        """From a diffusers scheduler (DDPM, DDIM, DPM-Solver...): its ``alphas_cumprod``."""
        table = getattr(scheduler, "alphas_cumprod", None)
        if not isinstance(table, Tensor):
            raise TypeError(
                "scheduler must carry a tensor `alphas_cumprod` (a diffusers DDPM-type "
                f"scheduler), got {type(scheduler).__name__}"
            )
        return cls(table, **kwargs)

    def extra_repr(self) -> str:
        return f"num_timesteps={self.num_timesteps}"

    # ----- the training index -----
    def index(self, t: TimeLike) -> Tensor:
        """The (continuous) training index k = N t - 1 of time t; -1 is the clean data."""
        return self._index(self._time(t))

    def _index(self, t: Tensor) -> Tensor:
        return t * self.num_timesteps - 1.0

    def time_of_index(self, k: Tensor | float) -> Tensor:
        """t = (k + 1)/N, the time of training index k."""
        return (torch.as_tensor(k) + 1.0) / self.num_timesteps

    # ----- coefficients -----
    def _table(self, t: Tensor) -> tuple[Tensor, Tensor]:
        key = (t.dtype, t.device)
        if key not in self._tables:
            self._tables[key] = (
                self._log_alpha_nodes.to(dtype=t.dtype, device=t.device),
                self._rate.to(dtype=t.dtype, device=t.device),
            )
        return self._tables[key]

    def _cell(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """The cell k with t in [k/N, (k + 1)/N] (the last cell holds t = 1) and the offset
        t - k/N."""
        n = self.num_timesteps
        k = torch.floor(t * n).clamp(0, n - 1)
        return k.long(), t - k / n

    # torch.take, not table[k]: indexing by a 0-d tensor reads it back to the host (a stall
    # per call on a GPU, and no CUDA graph can hold it)
    def _beta(self, t: Tensor) -> Tensor:
        k, _ = self._cell(t)
        return torch.take(self._table(t)[1], k)

    def _log_alpha(self, t: Tensor) -> Tensor:
        nodes, rate = self._table(t)
        k, offset = self._cell(t)
        return torch.take(nodes, k) - 0.5 * torch.take(rate, k) * offset

    def _sigma(self, t: Tensor) -> Tensor:
        return self._one_minus_alpha2(t).sqrt()

    def _diffusion(self, t: Tensor) -> Tensor:
        return self._beta(t).sqrt()
