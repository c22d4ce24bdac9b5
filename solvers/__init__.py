"""solvers: generic integrators for any torchsde-style SDE object (f, g, noise_type, sde_type).

This package knows nothing about diffusion models and imports only torch (and torchsde for
Brownian paths). ``SOLVERS`` maps a method name to its solver class; it is filled as the
integrators land.
"""

SOLVERS: dict[str, type] = {}

__all__ = ["SOLVERS"]
