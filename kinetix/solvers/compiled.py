"""A whole solve as one compiled program: every step, accept/reject, per-member control and dense
output at the requested times in one ``while_loop`` (the last step's output written after it), with no
return to Python between steps.

Used by the loop for ``options={"compile": "solve"}`` when no gradient is recorded and no step
callback is asked for (:mod:`.compiled_gradient` runs the loop where a gradient is). On CPU the
program is compiled ahead of time into a package on disk (:mod:`.package`), which every later process
loads in milliseconds; where
a problem cannot be packaged, and on CUDA, ``torch.compile`` builds it in the process (its caches
spare a later process the compilation, not the trace). Batch sizes are padded to the next power of
two with copies of the first member, and output-time counts to the next power of two with copies of
the last time, so that other shapes reuse the same program (members are independent).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch._higher_order_ops.utils import _hop_compile_and_call
from torch._higher_order_ops.while_loop import while_loop_op

from . import package
from .base import Solution, SolverStats, Status
from .dense import interpolate
from .function_key import KeptPrograms, function_key
from .loop import ControlState, control


def bucket(size: int) -> int:
    """The next power of two at or above ``size``."""
    return 1 << max(size - 1, 0).bit_length()


def solve_compiled(integration, y0: torch.Tensor, h0: torch.Tensor, t_out: torch.Tensor) -> Solution | None:
    """``integration`` (a ``loop._Integration``) solved from ``y0`` ``(B, n)`` with first steps
    ``h0`` ``(B, 1)`` at loop times ``t_out`` ``(T,)`` (from 0); ``None`` (with a warning, once per
    problem) where torch cannot compile it, and the loop then solves step by step."""
    batch, times = y0.shape[0], t_out.shape[0]
    y0, h0, t_out = padded(y0, h0, t_out, bucket(batch), bucket(times))
    key = problem_key(integration)
    facts = step_facts(key, integration, y0, h0)
    # contiguous: a package is compiled for its example's strides (an expanded y0 has stride 0)
    vectorize, arguments = vectorized(*y0.shape), (y0.contiguous(), h0.contiguous(), t_out.contiguous())
    outputs = _packaged(key, integration, arguments, vectorize, facts) if y0.device.type == "cpu" else None
    if outputs is None:
        outputs = _compiled_in_process(key, integration, arguments, vectorize, facts)
    if outputs is None:
        return None
    *state, values = outputs
    return solution(integration, state, values, batch, times, facts.evaluations)


def padded(y0: torch.Tensor, h0: torch.Tensor, t_out: torch.Tensor, batch: int, times: int) -> tuple:
    """``(y0, h0, t_out)`` padded to ``batch`` members with copies of the first and to ``times`` output
    times with copies of the last (members are independent, so the copies change nothing)."""
    if batch > y0.shape[0]:
        y0 = torch.cat([y0, y0[:1].expand(batch - y0.shape[0], -1)])
        h0 = torch.cat([h0, h0[:1].expand(batch - h0.shape[0], -1)])
    if times > t_out.shape[0]:
        t_out = torch.cat([t_out, t_out[-1:].expand(times - t_out.shape[0])])
    return y0, h0, t_out


def solution(integration, state, values: torch.Tensor, batch: int, times: int, evaluations: int) -> Solution:
    """A program's final ``state`` ``(t, attempts, accepted, status)`` and ``values`` ``(B', T', n)`` as
    the :class:`Solution` of the first ``batch`` members at the first ``times`` output times."""
    t, attempts, accepted, status = (part[:batch].view(-1) for part in state)
    method = integration.method
    first = 1 if integration.problem.first_step is not None else 2
    stats = SolverStats(accepted, attempts - accepted, first + attempts * (1 + evaluations),
                        attempts * method.jacobians_per_step, attempts * method.factorizations_per_step)
    return Solution(values[:batch, :times].transpose(0, 1), stats, status, t + integration.origin)


def dense_at(t_out: torch.Tensor, t: torch.Tensor, t_new: torch.Tensor, scale: torch.Tensor, y: torch.Tensor,
             y_new: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The dense output of steps from ``(t, y)`` to ``(t_new, y_new)`` (times ``(B, 1)``, states ``(B, n)``)
    with ``scale`` from :func:`inverse_length` and coefficients ``q`` ``(B, r, n)``, at every output time
    ``t_out`` ``(T,)``: ``(B, T, n)``. At and after ``t_new`` θ is exactly 1, so the output at ``t_new`` is
    ``y_new``, as the eager loop's quotient gives (``length * (1 / length)`` can round below 1)."""
    theta = torch.where(t_out >= t_new, 1.0, (t_out - t) * scale).unsqueeze(-1)
    return interpolate(theta, y.unsqueeze(1), y_new.unsqueeze(1), q.unsqueeze(1))


def inverse_length(t: torch.Tensor, t_new: torch.Tensor) -> torch.Tensor:
    """``1 / (t_new - t)`` ``(B, 1)``, and 1 for an empty step."""
    length = t_new - t
    return 1 / torch.where(length > 0, length, torch.ones_like(length))


class PendingStep(NamedTuple):
    """The step attempted in the previous iteration, whose dense output an iteration writes before it
    attempts its own. Read from tensors that the loop carries, the acceptance test and ``1 / length``
    are computed once per member; written in the iteration that attempted the step, inductor computed
    them again (a square root and a division) at every output time of every member.

    ``accepted`` ``(B, 1)``; the step's start ``t`` and ``scale`` (:func:`inverse_length`) ``(B, 1)``;
    ``y`` at its start ``(B, n)``; dense coefficients ``q`` ``(B, r, n)``. The step ends at the loop's
    current ``t`` and ``y``."""

    accepted: torch.Tensor
    t: torch.Tensor
    scale: torch.Tensor
    y: torch.Tensor
    q: torch.Tensor


def write_pending(t_out: torch.Tensor, pending: PendingStep, t: torch.Tensor, y: torch.Tensor, values: torch.Tensor,
                  filled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values (B, T, n), filled (B, T))`` with the ``pending`` step's dense output (to ``(t, y)``)
    written at the output times ``t_out`` ``(T,)`` that the step covers and that are not filled yet."""
    inside = pending.accepted & (t_out >= pending.t) & (t_out <= t) & ~filled
    dense = dense_at(t_out, pending.t, t, pending.scale, pending.y, y, pending.q)
    return torch.where(inside.unsqueeze(-1), dense, values), filled | inside


class StepFacts(NamedTuple):
    """What a program needs to know of the method's step: evaluations of ``f`` per attempted step
    beyond ``f(t, y)``, and ``r``, the rows of its dense coefficients."""

    evaluations: int
    dense_width: int


def step_facts(key: tuple, integration, y0: torch.Tensor, h0: torch.Tensor) -> StepFacts:
    """The :class:`StepFacts` of the problem ``key``, from one eager step per problem and padded shape,
    which also fills the method's caches for that shape before a program is traced."""
    shaped = (key, y0.shape)
    if shaped not in _STEP_FACTS:
        t0 = torch.zeros_like(h0)
        with torch.no_grad():
            step = integration.method.step(integration.system, t0, y0, h0, integration.system.rhs(t0, y0))
        _STEP_FACTS[shaped] = StepFacts(step.rhs_evals, step.dense.shape[1])
    return _STEP_FACTS[shaped]


def compile_options(integration, vectorize: bool) -> dict | None:
    """Inductor's options for a program of this problem: on CPU the C++ wrapper, and SIMD vectors
    only where :func:`vectorized` says."""
    if integration.problem.y0.device.type != "cpu":
        return None
    return CPU_OPTIONS if vectorize else {**CPU_OPTIONS, "cpp.vec_isa_ok": False}


def _packaged(key: tuple, integration, arguments: tuple, vectorize: bool, facts: StepFacts):
    """The program's outputs from its ahead-of-time package (:mod:`.package`), built on first use;
    ``None`` where the problem has no fingerprint or its package could not be built (with a warning).

    The fingerprint is kept per problem and shape, and computed again whenever something it was
    computed from has changed (a rate constant changed in place, a global rebound)."""
    shapes = tuple(tuple(argument.shape) for argument in arguments)
    known = _FINGERPRINTS.get((key, shapes), _UNSEEN)
    if known is None:
        return None  # not describable, or its package failed: compiled in-process
    try:
        if known is _UNSEEN or not known.current():
            known = _FINGERPRINTS[key, shapes] = package.fingerprint(integration, shapes, vectorize)
        if known is None:
            return None
        path = package.cache_dir() / f"{known.name}.pt2"
        runner = package.load_or_build(lambda: build_program(integration, facts), arguments, path, vectorize)
    except Exception as error:  # noqa: BLE001 - export and AOTInductor raise many kinds; the fallback is safe
        _FINGERPRINTS[key, shapes] = None  # not tried again in this process
        warnings.warn(f"the whole solve could not be compiled ahead of time ({first_line(error)}); "
                      "compiling it in this process instead", RuntimeWarning, stacklevel=5)
        return None
    return runner(*arguments)


def _compiled_in_process(key: tuple, integration, arguments: tuple, vectorize: bool, facts: StepFacts):
    """The program's outputs from ``torch.compile`` (inductor's on-disk caches spare a second process
    the compilation, not the trace); ``None`` (with a warning, once) where torch cannot compile it."""
    program = _program(key, integration, vectorize, facts)
    if program is None:
        return None
    try:
        with cacheable_while_loop():
            state, values = program(*arguments)
    except torch._dynamo.exc.TorchDynamoException as error:
        _PROGRAMS.put((key, vectorize), problem_functions(integration), None)
        warnings.warn(f"compile='solve' is not available for this problem ({first_line(error)}); solving step by "
                      "step", RuntimeWarning, stacklevel=5)
        return None
    return (*state, values)


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_FINGERPRINTS: dict = {}  # (key, shapes) -> package.Fingerprint, or None
_UNSEEN = object()
_PROGRAMS = KeptPrograms()
_STEP_FACTS: dict = {}  # per key and padded shape
# The loop driven from C++, not from inductor's Python wrapper: each iteration calls its kernels without a
# return to Python (Robertson 1.9x, POLLU 3.9x faster per solve on this machine's CPU; compile 51 s against 41 s).
CPU_OPTIONS = {"cpp_wrapper": True}


def cacheable_while_loop():
    """A context in which inductor's on-disk caches keep a program holding a ``while_loop``, so that a
    second process loads a compiled solve (or its gradient's programs) instead of compiling it again
    (CPU 11.8 s to 7.2 s for Robertson, start-up included). Inductor refuses higher-order operators by
    default; this one is safe to key: its condition and body graphs are submodules of the graph, hashed
    with their code and constants."""
    return torch._inductor.config.patch(unsafe_marked_cacheable_functions={
        **torch._inductor.config.unsafe_marked_cacheable_functions, "torch.ops.higher_order.while_loop": torch.__version__})


def problem_key(integration) -> tuple:
    """What a compiled solve depends on beyond its tensors' shapes: method, functions (by
    :func:`.function_key.function_key`) and settings."""
    problem = integration.problem
    functions = (function_key(function) for function in problem_functions(integration))
    return (integration.method, *functions, problem.autonomous,
            problem.max_steps, integration.controller, float(integration.origin), tuple(problem.rtol.tolist()),
            tuple(problem.atol.tolist()), problem.y0.dtype, problem.y0.device)


def problem_functions(integration) -> tuple:
    """The problem's functions that a compiled program calls: ``(func, jac, time_derivative)``."""
    problem = integration.problem
    return problem.func, problem.jac, problem.time_derivative


def vectorized(batch: int, n: int) -> bool:
    """Whether inductor's CPU code may use SIMD vectors. It vectorises the innermost dimension, the ``n``
    species: for a batch of members with few species most lanes are masked off, and plain loops over the
    batch run faster (1024 Robertson members: 4.3x less time, 1.7x less compile time; one member alone
    runs 1.3x faster vectorised)."""
    return batch == 1 or n >= _VECTOR_SPECIES


_VECTOR_SPECIES = 16


def _program(key: tuple, integration, vectorize: bool, facts: StepFacts):
    """The compiled program for ``key``, built once per process (``None`` where compiling failed before)."""
    options = compile_options(integration, vectorize)
    return _PROGRAMS.get((key, vectorize), problem_functions(integration), lambda: torch.compile(
        build_program(integration, facts), fullgraph=True, dynamic=False, options=options))


def build_program(integration, facts: StepFacts):
    """The function that ``torch.compile`` turns into one program: ``(y0, h0, t_out) ->
    ((t, attempts, accepted, status), values (B, T, n))``."""
    owner = Owner(integration, iteration(integration))

    def program(y0, h0, t_out):
        carried, t_end, codes = initial_carried(integration, y0, h0, t_out, facts.dense_width)
        tensors = owner.tensors()

        def running(*inputs):
            return unpacked(inputs)[0].active.any()

        def body(*inputs):
            carried, tensors = inputs[:-1], inputs[-1]
            return unaliased(owner.call(tensors, carried, t_out, t_end, codes), carried)

        final = loop_reading(running, body, carried, tensors)
        state = unpacked(final)[0]
        return (state.t, state.attempts, state.accepted, state.status), finished(final, t_out)

    return program


def loop_reading(condition, body, carried: tuple, constants: dict) -> tuple:
    """``while_loop(condition, body, carried)`` whose ``condition`` and ``body`` also take ``constants`` (a dict
    of tensors, after ``carried``) and return the carried tensors alone: read by every iteration, ``constants``
    are not copied from one iteration to the next as carried tensors are. (``while_loop`` itself lifts only
    the tensors its functions capture, and refuses those that alias each other: a buffer and its rows.)"""
    names, width = tuple(constants), len(carried)

    def reading(function):
        return lambda *inputs: function(*inputs[:width], dict(zip(names, inputs[width:])))

    arguments = (reading(condition), reading(body), tuple(carried), tuple(constants.values()))
    if torch.compiler.is_dynamo_compiling():
        return while_loop_op(*arguments)
    return _hop_compile_and_call(_while_loop_call, arguments)


def _while_loop_call(*arguments):
    return while_loop_op(*arguments)


def finished(carried: tuple, t_out: torch.Tensor) -> torch.Tensor:
    """The output values ``(B, T, n)`` of a loop that has stopped, its last step's dense output written."""
    state, (y, _, values, filled), pending = unpacked(carried)
    return write_pending(t_out, pending, state.t, y, values, filled)[0]


def iteration(integration):
    """``step_once(carried, t_out, t_end, codes)``: one iteration of the loop (the previous step's dense
    output, an attempt, control) on the :data:`CARRIED` tensors of :func:`initial_carried`; the new
    ``carried``."""
    method, system, problem = integration.method, integration.system, integration.problem
    error_norm = integration.error_norm
    max_steps, order, controller = problem.max_steps, method.error_order + 1, integration.controller

    def step_once(carried, t_out, t_end, codes):
        state, (y, f0, values, filled), pending = unpacked(carried)
        values, filled = write_pending(t_out, pending, state.t, y, values, filled)
        step = method.step(system, state.t, y, state.h, f0)
        err = error_norm(step.error, y, step.y_new)
        new, accept, t_new = control(state, (controller, order, max_steps, t_end, *codes), err, step.ok)
        pending = PendingStep(accept, state.t, inverse_length(state.t, t_new), y,
                              step.dense.contiguous())  # contiguous: while_loop keeps a carried tensor's strides
        y_new = torch.where(accept, step.y_new, y)
        return (*(getattr(new, name) for name in ControlState.__dataclass_fields__), y_new,
                system.rhs(new.t, y_new), values, filled, *pending)

    return step_once


def initial_carried(integration, y0, h0, t_out, dense_width: int):
    """The loop's state at the start: ``(carried, t_end (B, 1), status codes)``; ``carried`` holds the
    10 fields of the control state, then ``y``, ``f(t, y)``, the output values ``(B, T, n)``, which of
    them are filled ``(B, T)``, and the fields of a :class:`PendingStep` that was not accepted."""
    batch = y0.shape[0]
    t = torch.zeros(batch, 1, dtype=y0.dtype, device=y0.device)
    t_end = t_out[-1:].expand(batch, 1).clone()
    codes = tuple(torch.tensor(code, device=y0.device)
                  for code in (Status.MAX_STEPS, Status.STEP_UNDERFLOW, Status.NONFINITE))
    at_start = (t_out == 0).expand(batch, -1)
    values = torch.where(at_start.unsqueeze(-1), y0.unsqueeze(1), torch.full_like(y0, torch.nan).unsqueeze(1))
    h = torch.minimum(h0, t_end - t)
    zeros = torch.zeros(batch, 1, dtype=torch.long, device=y0.device)
    active = torch.ones(batch, 1, dtype=torch.bool, device=y0.device)
    pending = PendingStep(~active, t.clone(), torch.ones_like(t), y0.clone(),
                          y0.new_zeros(batch, dense_width, y0.shape[1]))
    carried = (t, h, h >= t_end - t, active, torch.ones_like(t), ~active, zeros, zeros.clone(), zeros.clone(),
               zeros.clone(), y0.clone(), integration.system.rhs(t, y0), values, at_start.clone(), *pending)
    return carried, t_end, codes


_CONTROL = len(ControlState.__dataclass_fields__)
CARRIED = _CONTROL + 4 + len(PendingStep._fields)  # the tensors a loop carries


def unpacked(carried: tuple) -> tuple[ControlState, tuple, PendingStep]:
    """The first :data:`CARRIED` tensors of a loop as ``(control state, (y, f(t, y), values, filled),
    pending step)``."""
    return (ControlState(*carried[:_CONTROL]), carried[_CONTROL : _CONTROL + 4],
            PendingStep(*carried[_CONTROL + 4 : CARRIED]))


def unaliased(out: tuple, carried: tuple) -> tuple:
    """``out`` with a copy of every part that is one of the ``carried`` inputs: ``while_loop`` refuses a
    body that returns its input."""
    return tuple(part.clone() if any(part is old for old in carried) else part for part in out)


def _modules(problem) -> list[torch.nn.Module]:
    """The modules behind the problem's functions (a module, or a module's bound method): their
    parameters and buffers are the loop's inputs (:func:`loop_reading`), because ``while_loop`` refuses
    captured tensors that alias each other (a buffer and its transpose)."""
    found = []
    for function in (problem.func, problem.jac, problem.time_derivative):
        owner = function if isinstance(function, torch.nn.Module) else getattr(function, "__self__", None)
        if isinstance(owner, torch.nn.Module) and all(owner is not module for module in found):
            found.append(owner)
    return found


class Owner(torch.nn.Module):
    """Holds the problem's modules, so that ``functional_call`` can hand them the loop's tensors."""

    def __init__(self, integration, function):
        super().__init__()
        self.owned = torch.nn.ModuleList(_modules(integration.problem))
        self.function = function

    def forward(self, *arguments):
        return self.function(*arguments)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Copies of the modules' parameters and buffers, by name: what :meth:`call` takes."""
        return {name: tensor.clone() for name, tensor in [*self.named_parameters(), *self.named_buffers()]}

    def call(self, tensors: dict, *arguments):
        """The function, with the modules' parameters and buffers replaced by ``tensors``."""
        return torch.func.functional_call(self, tensors, arguments)
