"""The gradient of a whole compiled solve: a discrete adjoint, forward and backward as compiled programs.

The forward program is the compiled loop of :mod:`.compiled`, run in chunks of :data:`CHUNK`
iterations that each also record where every member was (time, step, state, accepted or not). The
backward program walks a chunk's records in reverse inside one ``while_loop``: at each accepted
step it recomputes the step from its recorded start and pulls the cotangents of the step's end
state and of the outputs the step's dense output filled back to its start state and the
parameters (``torch.func.vjp``). This is backpropagation through the same steps (step sizes held
constant, as in the eager loop), so the gradient equals the eager loop's to rounding; memory is the
records, linear in the number of iterations, whatever the number of operations in a step.

Used by the loop for ``options={"compile": "solve"}`` when a gradient is recorded.
"""

from __future__ import annotations

import warnings

import torch
from torch._higher_order_ops import while_loop
from torch.autograd.function import once_differentiable

from ..errors import SolverError
from .adjoint import check_no_lost_gradients
from .base import Solution
from .compiled import (CARRIED, Owner, bucket, cacheable_while_loop, compile_options, dense_at, finished, first_line,
                       initial_carried, inverse_length, iteration, loop_reading, padded, problem_functions, problem_key,
                       solution, solve_compiled, step_facts, unaliased, unpacked, vectorized)
from .function_key import KeptPrograms

CHUNK = 64  # loop iterations per forward call: the records' granularity
MIN_TIMES = 64  # output times are padded to at least this many: a training curriculum's horizons share one program


def solve_compiled_with_gradient(integration, y0: torch.Tensor, h0: torch.Tensor,
                                 t_out: torch.Tensor) -> Solution | None:
    """``integration`` (a ``loop._Integration``) solved from ``y0`` ``(B, n)`` with first steps ``h0``
    ``(B, 1)`` at loop times ``t_out`` ``(T,)``; the outputs carry gradients to ``y0`` and to the
    parameters and buffers of the problem's modules that require grad. Shapes are padded as in
    :func:`.compiled.solve_compiled`, output times to at least :data:`MIN_TIMES`. ``None`` where the
    compiled backward would not give backpropagation's gradient (:meth:`_Programs.differentiable`)."""
    batch, times = y0.shape[0], t_out.shape[0]
    padded_batch, padded_times = bucket(batch), bucket(max(times, MIN_TIMES))
    key = problem_key(integration)
    vectorize_loops = vectorized(padded_batch, y0.shape[1])

    def kept_programs() -> _Programs:  # looked up again for the backward: see _Solve
        return _programs(key, integration, vectorize_loops)

    programs = kept_programs()
    names = programs.differentiable(integration)
    if names is None or programs.failed:
        return None
    if not names and not y0.requires_grad:  # nothing to differentiate: the forward program alone
        with torch.no_grad():
            return solve_compiled(integration, y0, h0, t_out)
    y0, h0, t_out = padded(y0, h0, t_out, padded_batch, padded_times)
    facts = step_facts(key, integration, y0, h0)
    tensors = programs.owner.tensors()
    state: list = []
    try:
        values = _Solve.apply(kept_programs, state, tensors, names, facts.dense_width, h0.contiguous(),
                              t_out.contiguous(), y0.contiguous(), *(tensors[name] for name in names))
    except torch._dynamo.exc.TorchDynamoException as error:
        programs.failed = True
        warnings.warn(f"compile='solve' with gradients is not available for this problem ({first_line(error)}); "
                      "solving step by step", RuntimeWarning, stacklevel=5)
        return None
    return solution(integration, state, values, batch, times, facts.evaluations)


class _Solve(torch.autograd.Function):
    """``values (B, T, n)`` from ``y0`` and the differentiable tensors (``tensors``: all the modules'
    tensors by name, ``names`` those differentiated), recording the forward's iterations for the backward
    program. ``state`` (a list) receives ``(t, attempts, accepted, status)``; ``dense_width`` is the rows of
    the method's dense coefficients (:class:`.compiled.StepFacts`).

    ``kept_programs()`` gives the problem's programs, and is called again by the backward: kept programs
    call the functions they were built from, maybe another closure from the same line, whose captured
    object may have been replaced since the forward; the lookup then builds programs of this solve's own."""

    @staticmethod
    def forward(ctx, kept_programs, state, tensors, names, dense_width, h0, t_out, y0, *differentiable):
        programs = kept_programs()
        tensors = {**tensors, **{name: tensor.detach() for name, tensor in zip(names, differentiable)}}
        carried, t_end, codes = initial_carried(programs.integration, y0, h0, t_out, dense_width)
        chunks = []
        with cacheable_while_loop():
            while True:
                carried, records = programs.forward(carried, tensors, t_out, t_end, codes)
                chunks.append(records)
                if not bool(unpacked(carried)[0].active.any()):
                    break
        final = unpacked(carried)[0]
        state.extend((final.t, final.attempts, final.accepted, final.status))
        ctx.kept_programs, ctx.names, ctx.chunks, ctx.tensors = kept_programs, names, chunks, tensors
        ctx.save_for_backward(t_out)
        return finished(carried, t_out)

    @staticmethod
    @once_differentiable  # a second derivative through the programs is not built: say so, not a silent zero
    def backward(ctx, values_bar):
        (t_out,) = ctx.saved_tensors
        values_bar = values_bar.contiguous()
        differentiable = {name: ctx.tensors[name] for name in ctx.names}
        fixed = {name: tensor for name, tensor in ctx.tensors.items() if name not in differentiable}
        lam = values_bar.new_zeros(values_bar.shape[0], values_bar.shape[-1])
        grads = {name: torch.zeros_like(tensor) for name, tensor in differentiable.items()}
        programs = ctx.kept_programs()
        for records in reversed(ctx.chunks):
            lam, grads = programs.pull_back(records, lam, grads, fixed, differentiable, values_bar, t_out)
        at_start = (t_out == 0).view(1, -1, 1)
        lam = lam + torch.where(at_start, values_bar, 0.0).sum(1)
        return (None, None, None, None, None, None, None, lam, *(grads[name] for name in ctx.names))


class _Programs:
    """The forward and backward programs of one problem, compiled once per process."""

    def __init__(self, integration, vectorize_loops: bool):
        self.integration = integration
        self.owner = Owner(integration, iteration(integration))
        self.step_owner = Owner(integration, _step_with_outputs(integration))
        self.check_owner = Owner(integration, _functions(integration))
        options = compile_options(integration, vectorize_loops)
        self.forward = torch.compile(self._forward, fullgraph=True, dynamic=False, options=options)
        self.backward = torch.compile(self._backward, fullgraph=True, dynamic=False, options=options)
        self.failed = False  # the forward could not be compiled: the loop solves step by step
        self.backward_failed = False  # the backward could not be compiled: its loop runs in Python

    def pull_back(self, *arguments):
        """:meth:`_backward` through the compiled program or, where that cannot be compiled (the
        forward already ran, so there is no step-by-step path to fall back to), as the same loop in
        Python, with a warning once: slower, the same gradient."""
        if not self.backward_failed:
            try:
                with cacheable_while_loop():
                    return self.backward(*arguments)
            except torch._dynamo.exc.TorchDynamoException as error:
                self.backward_failed = True
                warnings.warn(f"the backward program of compile='solve' could not be compiled ({first_line(error)}); "
                              "pulling the gradient back step by step in Python", RuntimeWarning, stacklevel=4)
        return self._backward(*arguments, loop=python_while_loop)

    def differentiable(self, integration) -> list[str] | None:
        """Names of the modules' tensors that require grad and that ``f`` uses; ``None`` where ``f`` (or
        a ``jac`` that is given) reaches another tensor that requires grad, draws random numbers, or the
        output times require grad. ``f`` is evaluated with fresh leaves in place of the modules' tensors, as the
        backward program will: a tensor that requires grad and is reached another way (a closure's, a
        global's, one a module cached from its parameter in a plain attribute) would lose its gradient
        there, and a random draw (dropout) would not be the forward's."""
        problem = integration.problem
        if problem.t.requires_grad:
            return None
        tensors = dict([*self.owner.named_parameters(), *self.owner.named_buffers()])
        fresh = {name: tensor.detach().requires_grad_(tensor.requires_grad) for name, tensor in tensors.items()}
        t = torch.zeros(problem.y0.shape[0], 1, dtype=problem.y0.dtype, device=problem.y0.device)
        before = _random_state(t.device)
        values = self.check_owner.call(fresh, t, problem.y0.detach())
        if not torch.equal(_random_state(t.device), before):  # dropout, noise: the backward would draw anew
            _set_random_state(t.device, before)
            return None
        reached = set()
        try:  # a Jacobian from autodiff reaches what f reaches
            for value in values:
                reached |= check_no_lost_gradients(value, [tensor for tensor in fresh.values() if tensor.requires_grad])
        except SolverError:
            return None
        return [name for name, tensor in fresh.items() if id(tensor) in reached]  # unused ones get no gradient

    def _forward(self, carried, tensors, t_out, t_end, codes):
        """Up to :data:`CHUNK` iterations from ``carried``: ``(carried, records)``; records are
        ``(count, t (C, B, 1), h, t_new, accepted (C, B, 1), y (C, B, n))`` for the first ``count``."""
        state, (y, *_), _ = unpacked(carried)
        slots = torch.arange(CHUNK, device=y.device).view(CHUNK, 1, 1)
        column = torch.zeros(CHUNK, *state.t.shape, dtype=y.dtype, device=y.device)
        records = (torch.zeros((), dtype=torch.long, device=y.device), column, column.clone(), column.clone(),
                   torch.zeros(column.shape, dtype=torch.bool, device=y.device),
                   torch.zeros(CHUNK, *y.shape, dtype=y.dtype, device=y.device))

        def running(*loop):
            return (loop[CARRIED] < CHUNK) & unpacked(loop)[0].active.any()

        def body(*loop):
            old, count = loop[:CARRIED], loop[CARRIED]
            new = self.owner.call(loop[-1], old, t_out, t_end, codes)
            (before, (y_before, *_), _), after = unpacked(old), unpacked(new)[0]
            here = slots == count
            accepted = after.accepted > before.accepted
            saved = [torch.where(here, part.unsqueeze(0), record)
                     for part, record in zip((before.t, before.h, after.t, accepted, y_before), loop[CARRIED + 1 : -1])]
            return unaliased((*new, count + 1, *saved), loop[:-1])

        final = loop_reading(running, body, (*carried, *records), tensors)
        return final[:CARRIED], final[CARRIED:]

    def _backward(self, records, lam, grads, fixed, differentiable, values_bar, t_out, loop=while_loop):
        """``(lam, grads)`` pulled back through a chunk's recorded iterations, last to first: ``lam``
        ``(B, n)`` the cotangent of the state after the chunk, ``grads`` those of ``differentiable``;
        ``loop`` runs ``while_loop``'s ``(condition, body, carried)``."""
        count, t_all, h_all, t_new_all, accepted_all, y_all = records

        def running(index, lam, grads):
            return index >= 0

        def body(index, lam, grads):
            t, h, t_new, accepted, y = (part.index_select(0, index.view(1)).squeeze(0)
                                        for part in (t_all, h_all, t_new_all, accepted_all, y_all))
            h = torch.where(accepted, h, 0.0)  # a rejected attempt is recomputed as a harmless empty step
            filled = accepted & (t_out > t) & (t_out <= t_new)

            def step(tensors, start):
                return self.step_owner.call({**fixed, **tensors}, t, h, t_new, start, t_out)

            _, pullback = torch.func.vjp(step, differentiable, y)
            cotangents = (torch.where(accepted, lam, 0.0), torch.where(filled.unsqueeze(-1), values_bar, 0.0))
            pulled, lam_before = pullback(cotangents)
            lam = torch.where(accepted, lam_before, lam)
            return index - 1, lam, {name: grads[name] + pulled[name] for name in grads}

        _, lam, grads = loop(running, body, (count - 1, lam.clone(),
                                             {name: tensor.clone() for name, tensor in grads.items()}))
        return lam, grads


def python_while_loop(condition, body, carried: tuple) -> tuple:
    """``while_loop``'s semantics in plain Python: ``carried = body(*carried)`` while ``condition(*carried)``."""
    while bool(condition(*carried)):
        carried = body(*carried)
    return carried


def _step_with_outputs(integration):
    """``(t, h, t_new, y, t_out) -> (y_new (B, n), dense output at t_out (B, T, n))``: one step of the
    method from ``(t, y)``, as the forward took it."""
    method, system = integration.method, integration.system

    def step(t, h, t_new, y, t_out):
        result = method.step(system, t, y, h, system.rhs(t, y))
        return result.y_new, dense_at(t_out, t, t_new, inverse_length(t, t_new), y, result.y_new, result.dense)

    return step


def _random_state(device: torch.device) -> torch.Tensor:
    """The state of the random number generator that operations on ``device`` draw from."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.random.get_rng_state()


def _set_random_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.random.set_rng_state(state)


def _functions(integration):
    """``(t, y) -> (f(t, y), [jac(t, y)])``: what the backward differentiates, ``jac`` where one is given."""
    system, given = integration.system, integration.problem.jac is not None

    def functions(t, y):
        return (system.rhs(t, y), system.jacobian(t, y)) if given else (system.rhs(t, y),)

    return functions


_PROGRAMS = KeptPrograms()


def _programs(key: tuple, integration, vectorize_loops: bool) -> _Programs:
    """The programs of the problem ``key`` (:func:`.compiled.problem_key`), built once per process."""
    return _PROGRAMS.get((key, vectorize_loops), problem_functions(integration),
                         lambda: _Programs(integration, vectorize_loops))
