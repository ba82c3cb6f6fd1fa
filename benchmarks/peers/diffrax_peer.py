"""JAX/diffrax peer for the kinetix benchmarks (Robertson, POLLU, batched Robertson, stiff neural ODE).

Every public function jit-compiles its solve ahead of time (``compile_s`` = trace + lower + XLA compile),
executes it once (``first_run_s``), then times ``repeats`` further executions and reports their median
(``run_s``; all of them in ``run_times``). Results come back as numpy float64 arrays.

Importing this module switches JAX to float64 (``jax_enable_x64``) for the whole process.
``AVAILABLE`` is False, and the functions raise, when jax or diffrax is not installed.

Run ``python -m benchmarks.peers.diffrax_peer`` (from the repository root) for the demo table.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp
except ImportError:  # pragma: no cover - exercised only without the peer installed
    AVAILABLE = False
else:
    AVAILABLE = True

SOLVERS = ("Kvaerno3", "Kvaerno5")
#: Width of each layer of the Kim et al. (2021) Robertson network: 3 -> [5 GELU] x 6 -> 3 (188 parameters).
NETWORK_WIDTHS = (3, 5, 5, 5, 5, 5, 5, 3)
_STATS = ("num_steps", "num_accepted_steps", "num_rejected_steps")
_SQRT1_2 = 0.7071067811865476  # M_SQRT1_2, as in torch's exact GELU kernel

ROBERTSON_Y0 = (1.0, 0.0, 0.0)
POLLU_K = (.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9e3, .022, 1.2e4, 1.88,
           1.63e4, 4.8e6, 3.5e-4, .0175, 1e8, 4.44e11, 1240, 2.1, 5.78, .0474, 1780, 3.12)
POLLU_Y0 = tuple(dict([(1, 0.2), (3, 0.04), (6, 0.1), (7, 0.3), (8, 0.01), (16, 0.007)]).get(i, 0.0)
                 for i in range(20))


def _require():
    if not AVAILABLE:
        raise RuntimeError("the diffrax peer needs jax and diffrax: pip install 'jax[cpu]' diffrax")


def _solver(name):
    if name not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {name!r}")
    return getattr(diffrax, name)()


def _f64(x):
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return jnp.asarray(np.asarray(x, dtype=np.float64))


def _solve(rhs, y0, t_eval, rtol, atol, solver, max_steps, pid=None, args=None):
    """Adaptive solve from t=0 to t_eval[-1], saved at t_eval; ``pid`` holds extra PIDController options."""
    return diffrax.diffeqsolve(
        diffrax.ODETerm(rhs), _solver(solver), t0=0.0, t1=t_eval[-1], dt0=None, y0=y0, args=args,
        saveat=diffrax.SaveAt(ts=t_eval),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, **(pid or {})),
        max_steps=max_steps,
    )


def _stats(sol):
    return {k: sol.stats[k] for k in _STATS}


def _timed(fn, args, repeats):
    """AOT-compile ``fn`` for ``args``, run it once, then time ``repeats`` runs (blocking on results)."""
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    first_run_s = time.perf_counter() - t
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
    timing = {"compile_s": compile_s, "first_run_s": first_run_s, "run_s": statistics.median(times),
              "run_times": times}
    return jax.tree_util.tree_map(np.asarray, out), timing


def _scalar_stats(stats):
    return {k: int(v) for k, v in stats.items()}


# ----------------------------------------------------------------------------------------------- problems

def robertson_rhs(t, y, args=None):
    """Robertson's three-species problem."""
    y1, y2, y3 = y[0], y[1], y[2]
    a, b, c = 0.04 * y1, 1e4 * y2 * y3, 3e7 * y2 * y2
    return jnp.stack([-a + b, a - b - c, c])


def pollu_rhs(t, y, args=None):
    """The POLLU air-pollution problem (20 species, 25 reactions)."""
    k = POLLU_K
    y1, y2, y3, y4, y5, y6, y7, y8, y9, y10, y11, y12, y13, y14, y15, y16, y17, y18, y19, y20 = (
        y[i] for i in range(20))
    r = (None,  # r[1] is r1, as in the paper
         k[0] * y1, k[1] * y2 * y4, k[2] * y5 * y2, k[3] * y7, k[4] * y7, k[5] * y7 * y6, k[6] * y9,
         k[7] * y9 * y6, k[8] * y11 * y2, k[9] * y11 * y1, k[10] * y13, k[11] * y10 * y2, k[12] * y14,
         k[13] * y1 * y6, k[14] * y3, k[15] * y4, k[16] * y4, k[17] * y16, k[18] * y16, k[19] * y17 * y6,
         k[20] * y19, k[21] * y19, k[22] * y1 * y4, k[23] * y19 * y1, k[24] * y20)
    return jnp.stack([
        -r[1] - r[10] - r[14] - r[23] - r[24] + r[2] + r[3] + r[9] + r[11] + r[12] + r[22] + r[25],
        -r[2] - r[3] - r[9] - r[12] + r[1] + r[21],
        -r[15] + r[1] + r[17] + r[19] + r[22],
        -r[2] - r[16] - r[17] - r[23] + r[15],
        -r[3] + 2 * r[4] + r[6] + r[7] + r[13] + r[20],
        -r[6] - r[8] - r[14] - r[20] + r[3] + 2 * r[18],
        -r[4] - r[5] - r[6] + r[13],
        r[4] + r[5] + r[6] + r[7],
        -r[7] - r[8],
        -r[12] + r[7] + r[9],
        -r[9] - r[10] + r[8] + r[11],
        r[9],
        -r[11] + r[10],
        -r[13] + r[12],
        r[14],
        -r[18] - r[19] + r[16],
        -r[20],
        r[20],
        -r[21] - r[22] - r[24] + r[23] + r[25],
        -r[25] + r[24],
    ])


def _problem(rhs, y0, t_eval, rtol, atol, solver, repeats, max_steps, pid):
    def run(y0, t_eval, rtol, atol):
        sol = _solve(rhs, y0, t_eval, rtol, atol, solver, max_steps, pid)
        return sol.ys, _stats(sol)

    (ys, stats), timing = _timed(run, (_f64(y0), _f64(t_eval), _f64(rtol), _f64(atol)), repeats)
    return {"solver": solver, "rtol": rtol, "atol": atol, "ts": np.asarray(t_eval, np.float64), "ys": ys,
            **_scalar_stats(stats), **timing}


def robertson(t_eval, rtol=1e-6, atol=1e-10, solver="Kvaerno5", y0=ROBERTSON_Y0, repeats=10, max_steps=100_000,
              pid=None):
    """Solve Robertson's problem from t=0, saved at ``t_eval``; ``ys`` has shape (T, 3).

    ``pid`` (all functions): extra PIDController keywords, e.g. ``{"pcoeff": 0.3, "icoeff": 0.4}``.
    """
    _require()
    return _problem(robertson_rhs, y0, t_eval, rtol, atol, solver, repeats, max_steps, pid)


def pollu(t_eval, rtol=1e-6, atol=1e-10, solver="Kvaerno5", y0=POLLU_Y0, repeats=10, max_steps=100_000, pid=None):
    """Solve POLLU from t=0 to t_eval[-1] (60 in the standard test), saved at ``t_eval``; ``ys`` is (T, 20)."""
    _require()
    return _problem(pollu_rhs, y0, t_eval, rtol, atol, solver, repeats, max_steps, pid)


def robertson_batch(y0s, t_eval, rtol=1e-6, atol=1e-10, solver="Kvaerno3", repeats=5, max_steps=100_000,
                    pid=None):
    """Solve Robertson for a batch of initial states ``y0s`` (B, 3) with ``jax.vmap``.

    Each trajectory keeps its own step size; under vmap the while-loop runs until the slowest one is done.
    ``ys`` is (B, T, 3); the step counts are (B,) integer arrays.
    """
    _require()

    def run(y0s, t_eval, rtol, atol):
        def one(y0):
            sol = _solve(robertson_rhs, y0, t_eval, rtol, atol, solver, max_steps, pid)
            return sol.ys, _stats(sol)
        return jax.vmap(one)(y0s)

    (ys, stats), timing = _timed(run, (_f64(y0s), _f64(t_eval), _f64(rtol), _f64(atol)), repeats)
    return {"solver": solver, "rtol": rtol, "atol": atol, "ts": np.asarray(t_eval, np.float64), "ys": ys,
            **{k: v.astype(np.int64) for k, v in stats.items()}, **timing}


# ----------------------------------------------------------------------------------------- stiff neural ODE

def init_network_params(seed=0, widths=NETWORK_WIDTHS):
    """Random (W, b) pairs in torch.nn.Linear layout, drawn like its default init: U(-1/sqrt(fan_in), +)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        params.append((rng.uniform(-bound, bound, (fan_out, fan_in)), rng.uniform(-bound, bound, fan_out)))
    return params


def gelu(x):
    """Exact (erf) GELU, written as torch's CPU kernel computes it."""
    return x * 0.5 * (1.0 + jax.lax.erf(x * _SQRT1_2))


def mlp(params, x):
    """Linear layers ``x @ W.T + b`` with GELU between them (none after the last): torch's Sequential."""
    for i, (w, b) in enumerate(params):
        x = x @ w.T + b
        if i < len(params) - 1:
            x = gelu(x)
    return x


def robertson_network_loss_and_grad(params, t_eval, y_data, y_scale, t_scale, rtol=1e-3, atol=1e-6,
                                    solver="Kvaerno5", y0=ROBERTSON_Y0, repeats=5, max_steps=16**4,
                                    pid=None, time_forward=True, input_shift=0.0, input_scale=1.0,
                                    output_scale=None):
    """Scaled-MAE loss of the neural ODE dy/dt = NN((y - input_shift) / input_scale) * output_scale / t_scale
    (``output_scale`` defaults to ``y_scale``, the paper's) and its gradient w.r.t. ``params``.

    ``params`` is a list of (W (out, in), b (out,)) pairs (numpy arrays or torch tensors). The solve starts at
    ``y0`` at t=0 and is saved at ``t_eval`` (T,); ``y_data`` is (T, 3); loss = mean(|y_pred - y_data| / y_scale).
    The gradient goes through the solver (discretise-then-optimise, diffrax's RecursiveCheckpointAdjoint).
    Timings are for the jitted value_and_grad; with ``time_forward`` the loss alone is timed too (``forward_*``).
    """
    _require()

    shift, in_scale = _f64(input_shift), _f64(input_scale)
    out_scale = _f64(y_scale if output_scale is None else output_scale)

    def loss(params, y0, t_eval, y_data, y_scale, t_scale, rtol, atol):
        def rhs(t, y, p):
            return mlp(p, (y - shift) / in_scale) * out_scale / t_scale

        sol = _solve(rhs, y0, t_eval, rtol, atol, solver, max_steps, pid, args=params)
        return jnp.mean(jnp.abs(sol.ys - y_data) / y_scale), (sol.ys, _stats(sol))

    jparams = [(_f64(w), _f64(b)) for w, b in params]
    args = (jparams, _f64(y0), _f64(t_eval), _f64(y_data), _f64(y_scale), _f64(t_scale), _f64(rtol), _f64(atol))
    ((value, (y_pred, stats)), grads), timing = _timed(jax.value_and_grad(loss, has_aux=True), args, repeats)
    out = {"solver": solver, "rtol": rtol, "atol": atol, "loss": float(value), "y_pred": y_pred,
           "grads": [(np.asarray(gw), np.asarray(gb)) for gw, gb in grads],
           "n_params": sum(w.size + b.size for w, b in jparams), **_scalar_stats(stats), **timing}
    if time_forward:
        _, ftiming = _timed(loss, args, repeats)
        out.update({f"forward_{k}": v for k, v in ftiming.items()})
    return out


# ------------------------------------------------------------------------------------------------------ demo

def _main(argv=None):
    import argparse
    import os
    import platform

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="override every case's repeat count")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args(argv)
    _require()

    def reps(n):
        return opts.repeats if opts.repeats is not None else n

    print(f"jax {jax.__version__}, diffrax {diffrax.__version__}, {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, devices {jax.devices()}")
    t_rob = np.logspace(-5, 5, 50)
    rows, res = [], {}
    for t_end in (5, 11):
        for s in SOLVERS:
            r = res[t_end, s] = robertson(np.logspace(-5, t_end, 50), 1e-6, 1e-10, s, repeats=reps(20))
            rows.append((f"Robertson [0,1e{t_end}], 50 pts", s, "1e-6/1e-10", r,
                         f"max abs(sum(y)-1) {np.abs(r['ys'].sum(1) - 1).max():.1e}"))
        a, b = res[t_end, "Kvaerno3"]["ys"], res[t_end, "Kvaerno5"]["ys"]
        diff = (np.abs(a - b) / np.abs(b).max(axis=0)).max()
        rows[-1] = rows[-1][:4] + (rows[-1][4] + f"; K3 vs K5 max abs diff / species max {diff:.1e}",)

    t_pol = np.linspace(0, 60, 20)
    for s in SOLVERS:
        r = pollu(t_pol, 1e-6, 1e-10, s, repeats=reps(20))
        rows.append(("POLLU [0,60], 20 pts", s, "1e-6/1e-10", r, f"y1(60) {r['ys'][-1, 0]:.6e}"))

    rng = np.random.default_rng(opts.seed)
    y1 = rng.uniform(0.5, 1.0, opts.batch)
    y0s = np.stack([y1, np.zeros_like(y1), 1.0 - y1], axis=1)
    r = robertson_batch(y0s, t_rob, 1e-6, 1e-10, "Kvaerno3", repeats=reps(5))
    rows.append((f"Robertson batch B={opts.batch}", "Kvaerno3", "1e-6/1e-10", r,
                 f"steps/traj min {r['num_steps'].min()} median {int(np.median(r['num_steps']))} "
                 f"max {r['num_steps'].max()}"))

    y_data = res[5, "Kvaerno5"]["ys"]
    y_scale = y_data.max(axis=0)
    params = init_network_params(opts.seed)
    for s in SOLVERS:
        r = robertson_network_loss_and_grad(params, t_rob, y_data, y_scale, 1e5, 1e-3, 1e-6, s, repeats=reps(10))
        gnorm = math.sqrt(sum((gw**2).sum() + (gb**2).sum() for gw, gb in r["grads"]))
        rows.append(("NN-ODE value_and_grad (random params)", s, "1e-3/1e-6", r,
                     f"loss {r['loss']:.6f}, grad 2-norm {gnorm:.4e}, forward-only run "
                     f"{r['forward_run_s'] * 1e3:.2f} ms"))

    head = ("case", "solver", "rtol/atol", "compile_s", "first_run_s", "run_s (median)", "steps acc/rej", "notes")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for case, s, tol, r, note in rows:
        if np.ndim(r["num_steps"]):
            steps = f"{r['num_accepted_steps'].sum()}/{r['num_rejected_steps'].sum()} (total)"
        else:
            steps = f"{r['num_accepted_steps']}/{r['num_rejected_steps']}"
        print(f"| {case} | {s} | {tol} | {r['compile_s']:.2f} | {r['first_run_s'] * 1e3:.2f} ms "
              f"| {r['run_s'] * 1e3:.2f} ms (n={len(r['run_times'])}) | {steps} | {note} |")


if __name__ == "__main__":
    _main()
