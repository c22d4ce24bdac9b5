"""The solver matrix: every registered method x shapes, dtypes, devices, NFE counts and error
paths; agreement with torchsde; noise sources. Parametrized over the registry, so a method is
tested the moment it is registered."""

from __future__ import annotations

import pytest
import torch
import torchsde
from problems import GBM, OU, GeneralNoise, ScalarNoise
from test_targets import mixture_2d

import revsde
from revsde import solvers
from revsde.solvers import SOLVERS

D64 = torch.float64
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def problem_for(method: str, probability_flow: bool | None = None):
    """A reverse VP SDE of a 2-D mixture (its ODE for ODE-only methods)."""
    solver = solvers.resolve(method)
    sde = revsde.VPSDE()
    pf = solver.ode_only if probability_flow is None else probability_flow
    return sde.reverse(mixture_2d().score(sde), probability_flow=pf)


@pytest.mark.parametrize("shape", [(6, 2), (6, 1, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_shapes_dtypes_and_nfe(method, dtype, shape):
    rsde = problem_for(method)
    y0 = torch.randn(shape, dtype=dtype)
    ts = rsde.times(8, dtype=dtype)
    ys, stats = solvers.solve(rsde, y0, ts, method=method)
    assert ys.shape == (9, *shape) and ys.dtype == dtype
    assert torch.equal(ys[0], y0)
    assert stats.steps == 8
    solver = solvers.resolve(method)
    assert stats.nfe == 8 * solver.nfe + solver.nfe_startup


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_dt_substeps_land_on_every_output_time(method):
    rsde = problem_for(method)
    y0 = torch.randn(4, 2, dtype=D64)
    ts = torch.tensor([0.0, 0.1, 0.35, rsde.s_max], dtype=D64)
    ys, stats = solvers.solve(rsde, y0, ts, method=method, dt=0.05)
    assert ys.shape == (4, 4, 2)
    assert stats.steps == 2 + 5 + 13  # ceil(0.1/0.05), ceil(0.25/0.05), ceil(0.649/0.05)
    final = solvers.sdeint(
        rsde,
        y0,
        ts,
        method=method,
        dt=0.05,
        final_only=True,
        generator=torch.Generator().manual_seed(0),
    )
    again = solvers.sdeint(
        rsde, y0, ts, method=method, dt=0.05, generator=torch.Generator().manual_seed(0)
    )
    assert final.shape == y0.shape
    torch.testing.assert_close(final, again[-1])


@CUDA
@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_cuda(method):
    rsde = problem_for(method)
    y0 = torch.randn(8, 2, device="cuda")
    ys = solvers.solve(rsde, y0, rsde.times(5, device="cuda"), method=method).ys
    assert ys.device.type == "cuda" and bool(torch.isfinite(ys).all())


def test_pc_counts_corrector_steps():
    rsde = problem_for("pc")
    y0 = torch.randn(4, 2, dtype=D64)
    for n_corr in (0, 1, 3):
        _, stats = solvers.solve(
            rsde,
            y0,
            rsde.times(5, dtype=D64),
            method="pc",
            n_corrector_steps=n_corr,
        )
        assert stats.nfe == 5 * (1 + n_corr) and stats.model_evals == 5 * (1 + n_corr)
    _, stats = solvers.solve(
        rsde,
        y0,
        rsde.times(5, dtype=D64),
        method="pc",
        predictor=None,
        n_corrector_steps=2,
    )
    assert stats.nfe == 10


@pytest.mark.parametrize("method", ["euler", "milstein"])
def test_agrees_with_torchsde_on_one_brownian_path(method):
    """Same BrownianInterval, float64, a grid of exact binary fractions: same numbers."""
    sde, y0 = GBM(), torch.full((16, 3), 0.5, dtype=D64)
    ts = torch.linspace(0, 1, 65, dtype=D64)

    def bm():
        return torchsde.BrownianInterval(0.0, 1.0, size=y0.shape, dtype=D64, entropy=7)

    ours = solvers.solve(sde, y0, ts, method=method, bm=bm()).ys
    theirs = torchsde.sdeint(sde, y0, ts, method=method, dt=1 / 64, bm=bm())
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_per_sample_generators_make_samples_independent_of_the_batch():
    rsde = problem_for("euler")
    y0 = torch.randn(5, 2, dtype=D64)

    def run(n):
        gens = [torch.Generator().manual_seed(100 + i) for i in range(n)]
        return solvers.solve(
            rsde, y0[:n], rsde.times(10, dtype=D64), method="pc", generator=gens, norms="sample"
        ).ys

    torch.testing.assert_close(run(3), run(5)[:, :3])


def test_generator_makes_runs_reproducible():
    rsde = problem_for("euler")
    y0 = torch.randn(5, 2, dtype=D64)
    a, b = (
        solvers.solve(
            rsde,
            y0,
            rsde.times(10, dtype=D64),
            generator=torch.Generator().manual_seed(3),
            method="euler",
        ).ys
        for _ in range(2)
    )
    torch.testing.assert_close(a, b)


def _additive():
    sde = GeneralNoise(d=2, m=3)
    sde.noise_type = "additive"
    return sde


@pytest.mark.parametrize(
    "sde",
    [GeneralNoise(d=2, m=3), _additive(), ScalarNoise()],
    ids=["general", "additive", "scalar"],
)
def test_other_noise_types(sde):
    y0 = torch.ones(4, 2, dtype=D64)
    ran = []
    for method in sorted(SOLVERS):
        solver = solvers.resolve(method)
        if sde.noise_type not in solver.noise_types or solver.requires or solver.ode_only:
            continue
        if solver.requires_additive and sde.noise_type != "additive":
            continue
        ys = solvers.sdeint(sde, y0, [0.0, 0.5, 1.0], method=method, dt=0.01)
        assert ys.shape == (3, 4, 2) and bool(torch.isfinite(ys).all())
        ran.append(method)
    assert "euler" in ran and ("sra1" in ran) == (sde.noise_type == "additive")


def test_milstein_skips_its_term_for_additive_noise():
    sde, y0 = OU(), torch.zeros(8, 2, dtype=D64)
    ts = torch.linspace(0, 1, 11, dtype=D64)
    runs = [
        solvers.solve(sde, y0, ts, method=m, generator=torch.Generator().manual_seed(0)).ys
        for m in ("euler", "milstein", "milstein_df")
    ]
    torch.testing.assert_close(runs[0], runs[1])
    torch.testing.assert_close(runs[0], runs[2])


# ----- errors -----


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"valid methods are \['ancestral', 'bosh3', 'ddim', 'dopri5'"
    ):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="bogus")
    with pytest.raises(TypeError, match="method must be"):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method=3)
    with pytest.raises(TypeError, match=r"\['snr'\]: method EulerMaruyama takes no options"):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="euler", snr=0.1)
    with pytest.raises(TypeError, match=r"\['final_onyl'\].*own keywords are .*'final_only'"):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="euler", final_onyl=True)
    with pytest.raises(TypeError, match=r"\['snrr'\]: method PredictorCorrector takes the options"):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="pc", snrr=0.1)


def test_method_that_does_not_fit_the_sde():
    with pytest.raises(
        ValueError, match=r"'milstein' supports noise types \['additive', 'diagonal', 'scalar'\]"
    ):
        solvers.sdeint(GeneralNoise(), torch.zeros(2, 3), [0.0, 1.0], dt=1.0, method="milstein")
    with pytest.raises(ValueError, match="additive noise"):
        solvers.sdeint(GBM(), torch.ones(2, 2), [0.0, 1.0], dt=1.0, method="sra1")
    with pytest.raises(ValueError, match="for ODEs"):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="heun")
    with pytest.raises(
        ValueError,
        match=r"protocol DiscreteReverseSDE .*lacks \['transition', 'predict_score'\]",
    ):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="reverse_diffusion")
    strat = OU()
    strat.sde_type = "stratonovich"
    with pytest.raises(ValueError, match="sde_type"):
        solvers.sdeint(strat, torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="euler")
    rode = problem_for("euler", probability_flow=True)
    with pytest.raises(ValueError, match="lam"):
        solvers.solve(rode, torch.zeros(2, 2), rode.times(3), method="ancestral")


@pytest.mark.parametrize(
    ("ts", "match"),
    [
        ([0.0, 1.0, 0.5], "strictly increasing"),
        ([0.0], "at least two"),
        ([0.0, float("nan")], "NaN"),
        ("abc", "ts must be"),
    ],
)
def test_bad_times(ts, match):
    with pytest.raises((ValueError, TypeError), match=match):
        solvers.solve(OU(), torch.zeros(2, 2), ts, method="euler")


def test_bad_states_and_steps():
    with pytest.raises(ValueError, match="y0 contains NaN"):
        solvers.sdeint(
            OU(), torch.tensor([[float("nan"), 0.0]]), [0.0, 1.0], dt=1.0, method="euler"
        )
    with pytest.raises(ValueError, match="y0 must have shape"):
        solvers.sdeint(OU(), torch.zeros(3), [0.0, 1.0], dt=1.0, method="euler")
    with pytest.raises(TypeError, match="floating"):
        solvers.sdeint(
            OU(), torch.zeros(2, 2, dtype=torch.long), [0.0, 1.0], dt=1.0, method="euler"
        )
    with pytest.raises(ValueError, match="dt must be"):
        solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=-0.1, method="euler")
    with pytest.raises(ValueError, match="bm must have shape"):
        solvers.sdeint(
            OU(),
            torch.zeros(2, 2),
            [0.0, 1.0],
            dt=1.0,
            bm=torchsde.BrownianInterval(0.0, 1.0, size=(3, 2)),
            method="euler",
        )
    with pytest.raises(ValueError, match=r"one torch\.Generator per sample"):
        solvers.sdeint(
            OU(),
            torch.zeros(2, 2),
            [0.0, 1.0],
            dt=1.0,
            generator=[torch.Generator()],
            method="euler",
        )


def test_drift_of_the_wrong_shape():
    class Bad(OU):
        def f(self, t, y):
            return y[:, :1]

    with pytest.raises(ValueError, match=r"sde.f returned \(2, 1\)"):
        solvers.sdeint(Bad(), torch.zeros(2, 2), [0.0, 1.0], dt=1.0, method="euler")


def test_blow_up_is_reported_at_its_step_with_its_cause():
    match = r"at step 2 of 2, from t = 0.5 to t = 1: the drift f returned NaN or inf"
    with pytest.raises(solvers.NonFiniteError, match=match):
        solvers.sdeint(
            GBM(mu=1e200, sigma=0.0),
            torch.ones(2, 2, dtype=D64),
            [0.0, 0.5, 1.0],
            dt=0.5,
            method="euler",
        )
    # without the per-step check, the end result is still checked, in the grid's words
    with pytest.raises(ValueError, match=r"between ts\[1\] = 0.5 and ts\[2\] = 1.0"):
        solvers.sdeint(
            GBM(mu=1e200, sigma=0.0),
            torch.ones(2, 2, dtype=D64),
            [0.0, 0.5, 1.0],
            dt=0.5,
            check_finite=False,
            method="euler",
        )


def test_progress_bar_runs():
    ys = solvers.sdeint(OU(), torch.zeros(2, 2), [0.0, 1.0], dt=0.1, progress=True, method="euler")
    assert ys.shape == (2, 2, 2)


def test_revsde_reexports_sdeint():
    assert revsde.sdeint is solvers.sdeint
