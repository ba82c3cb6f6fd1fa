"""Whole solves compiled ahead of time and kept on disk, so that a later process runs them without
tracing or compiling anything (CPU).

A package is the program of :func:`kinetix.solvers.compiled.build_program` for one padded shape,
exported with ``torch.export`` and compiled by AOTInductor into one file. Its name is a fingerprint
of everything the program depends on: torch's version; the sources of every package that defines the
problem's functions, the method and the loop; the modules' tensors and settings; the solver settings;
the shapes and dtype. A later process computes the fingerprint (milliseconds), finds the file and
loads it with torch's C++ loader: no ``torch._dynamo`` or ``torch._inductor`` import, which alone take
seconds. Where a function cannot be fingerprinted (it holds an object of unknown kind), there is no
package and the caller compiles in-process instead.

Packages live in ``$KINETIX_CACHE_DIR/solves`` (default ``~/.cache/kinetix/solves``); each is written
under a temporary name and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import sys
import types
import uuid
import warnings
from functools import cache
from pathlib import Path

import torch

class _Unknown(Exception):
    """An object whose behaviour a fingerprint cannot capture."""


def cache_dir() -> Path:
    """Where packages are kept: ``$KINETIX_CACHE_DIR/solves``, default ``~/.cache/kinetix/solves``."""
    root = os.environ.get("KINETIX_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kinetix"
    return Path(root) / "solves"


def fingerprint(integration, shapes: tuple, vectorize: bool) -> str | None:
    """A hex digest naming the package of ``integration``'s program for input ``shapes``; ``None``
    where some function of the problem cannot be fingerprinted."""
    problem = integration.problem
    parts = (torch.__version__, shapes, vectorize, str(problem.y0.dtype), str(problem.y0.device),
             integration.method, problem.func, problem.jac, problem.time_derivative, problem.autonomous,
             problem.max_steps, integration.controller, float(integration.origin), problem.rtol, problem.atol,
             type(integration))
    description = _Describer()
    try:
        text = description(parts)
    except _Unknown:
        return None
    sources = [_package_sources(name) for name in sorted(description.packages)]
    if None in sources:
        return None
    return hashlib.sha256((text + "".join(sources)).encode()).hexdigest()


def load(path: Path):
    """The program in the package at ``path``: ``run(y0, h0, t_out) -> (t, attempts, accepted, status, values)``;
    loaded once per process (problems with the same fingerprint share it)."""
    if path not in _LOADED:
        _LOADED[path] = _loaded(path)
    return _LOADED[path]


_LOADED: dict = {}


def _loaded(path: Path):
    # one model instance behind the loader's lock: threads that share it take turns (False: not single-threaded)
    loader = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)

    def run(y0, h0, t_out):
        return loader.run([y0, h0, t_out])

    return run


def build(program, arguments: tuple, path: Path, vectorize: bool) -> None:
    """Export ``program`` at ``arguments`` ``(y0, h0, t_out)``, compile it with AOTInductor and write the
    package to ``path`` (atomically)."""

    class Program(torch.nn.Module):
        def forward(self, y0, h0, t_out):
            state, values = program(y0, h0, t_out)
            return (*state, values)

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.partial.pt2")
    try:
        with warnings.catch_warnings(), torch._inductor.config.patch({} if vectorize else {"cpp.vec_isa_ok": False}):
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)  # torch's own, not ours
            exported = torch.export.export(Program(), arguments, strict=False)
            torch._inductor.aoti_compile_and_package(exported, package_path=str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_or_build(program, arguments: tuple, path: Path, vectorize: bool):
    """The package at ``path``, built from ``program`` first if it is missing or unreadable."""
    if path.is_file():
        try:
            return load(path)
        except RuntimeError as error:
            warnings.warn(f"the solve package {path} could not be loaded ({error}); building it again",
                          RuntimeWarning, stacklevel=3)
    build(program, arguments, path, vectorize)
    return load(path)


class _Describer:
    """Turns objects into text that changes whenever their behaviour could; records the top-level
    packages whose sources define them."""

    _MODULE_INTERNALS = frozenset(vars(torch.nn.Module())) - {"training"}

    def __init__(self):
        self.packages: set[str] = set()
        self._seen: dict[int, tuple[int, object]] = {}  # holding the object keeps its id from being reused

    def __call__(self, value) -> str:
        if value is None or isinstance(value, (numbers.Number, str, bytes, torch.dtype, torch.device)):
            return repr(value)
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous()
            return f"tensor({data.dtype},{tuple(data.shape)},{hashlib.sha256(data.numpy().tobytes()).hexdigest()})"
        if type(value).__module__ == "numpy" and hasattr(value, "tobytes"):
            return f"array({value.dtype},{value.shape},{hashlib.sha256(value.tobytes()).hexdigest()})"
        if id(value) in self._seen:
            return f"<seen {self._seen[id(value)][0]}>"
        self._seen[id(value)] = (len(self._seen), value)
        if isinstance(value, (tuple, list)):
            return f"{type(value).__name__}({','.join(self(item) for item in value)})"
        if isinstance(value, (set, frozenset)):
            return f"{type(value).__name__}({','.join(sorted(self(item) for item in value))})"
        if isinstance(value, dict):
            return "{" + ",".join(f"{self(key)}:{self(item)}" for key, item in value.items()) + "}"
        if isinstance(value, types.ModuleType):
            return f"module({value.__name__})"
        if isinstance(value, types.MethodType):
            return f"method({self(value.__func__)},{self(value.__self__)})"
        if isinstance(value, types.FunctionType):
            closure = tuple(cell.cell_contents for cell in value.__closure__ or ())
            return (f"function({self._name(value)},"
                    f"{self((value.__defaults__, value.__kwdefaults__, closure, self._globals(value)))})")
        if isinstance(value, type):
            return f"class({self._name(value)},{self(self._class_globals(value))})"
        if isinstance(value, types.BuiltinFunctionType):
            return self._name(value)
        if isinstance(value, torch.nn.Module):
            state = {key: item for key, item in vars(value).items() if key not in self._MODULE_INTERNALS}
            return (f"module({self(type(value))},{self(dict(value.named_parameters()))},"
                    f"{self(dict(value.named_buffers()))},{self(dict(value.named_children()))},{self(state)})")
        if hasattr(value, "__dict__") and not _foreign(type(value).__module__):
            state = vars(value)
            if _ours(type(value).__module__):  # kinetix's private attributes are caches of its public ones
                state = {key: item for key, item in state.items() if not key.startswith("_")}
            return f"object({self(type(value))},{self(state)})"
        raise _Unknown(type(value))  # e.g. functools.partial: its state is not in its __dict__

    def _globals(self, function: types.FunctionType) -> dict:
        """The module-level names a user's function reads (a tensor or setting it uses is part of what it
        computes); none for kinetix's own code, whose sources the fingerprint holds and which keeps no
        such state."""
        if _ours(function.__module__ or ""):
            return {}
        names, codes = set(), [function.__code__]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            codes.extend(constant for constant in code.co_consts if isinstance(constant, types.CodeType))
        return {name: function.__globals__[name] for name in sorted(names) if name in function.__globals__}

    def _class_globals(self, cls: type) -> dict:
        """The module-level names read by the methods a class (and its bases outside Python and torch) define."""
        if _foreign(cls.__module__) or _ours(cls.__module__):
            return {}
        found = {}
        for base in cls.__mro__:
            if not _foreign(base.__module__):
                for member in vars(base).values():
                    if isinstance(member, types.FunctionType):
                        found.update(self._globals(member))
        return found

    def _name(self, named) -> str:
        module = getattr(named, "__module__", None) or "builtins"
        if not _foreign(module):
            self.packages.add(module.split(".")[0])
        return f"{module}.{getattr(named, '__qualname__', getattr(named, '__name__', '?'))}"


def _ours(module: str) -> bool:
    """Whether ``module`` is kinetix's or one of its plugins' (``kinetix_*``)."""
    return module.split(".")[0] == "kinetix" or module.startswith("kinetix_")


def _foreign(module: str) -> bool:
    """Whether ``module`` belongs to Python or torch, whose versions the fingerprint names instead of
    their sources."""
    package = module.split(".")[0]
    return package in ("builtins", "torch") or package in sys.stdlib_module_names


@cache
def _package_sources(package: str) -> str | None:
    """A digest of every Python source file of the top-level ``package`` (its file, for a module);
    ``None`` where it has no files (code typed into an interpreter)."""
    module = sys.modules.get(package)
    locations = list(getattr(module, "__path__", None) or ())
    origin = getattr(module, "__file__", None)
    if locations:
        files = sorted(path for location in locations for path in Path(location).rglob("*.py"))
    elif origin and os.path.isfile(origin):
        files = [Path(origin)]
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file).encode())
        digest.update(file.read_bytes())
    return f"{package}:{digest.hexdigest()}"
