"""The diffusion samplers: each declares what it reads of the equation beyond f and g as
protocols of ``revsde.solvers.protocols``; the exponential integrators share one core
(``exponential``)."""
