"""Whole solves compiled ahead of time and kept on disk, so that a later process runs them without
tracing or compiling anything (CPU).

A package is the program of :func:`kinetix.solvers.compiled.build_program` for one padded shape,
exported with ``torch.export`` and compiled by AOTInductor into one file. Its name is a fingerprint
of everything the program depends on: torch's version; the sources of every package that defines the
problem's functions, the method and the loop; the modules' tensors and settings; the solver settings;
the shapes and dtype (docs/solvers.md lists it all). A later process computes the fingerprint
(milliseconds), finds the file and loads it with torch's C++ loader: no ``torch._dynamo`` or
``torch._inductor`` import, which alone take seconds. Within a process a fingerprint is re-checked on
every call by identity (tensor versions, attributes, globals, closure cells) and computed again when
anything changed. Where a function cannot be fingerprinted (it holds an object of unknown kind), there
is no package and the caller compiles in-process instead.

Packages live in ``$KINETIX_CACHE_DIR/solves`` (default ``~/.cache/kinetix/solves``); each is written
under a temporary name and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import numbers
import operator
import os
import platform
import re
import sys
import sysconfig
import threading
import types
import uuid
import warnings
from pathlib import Path

import torch


class _Unknown(Exception):
    """An object whose behaviour a fingerprint cannot capture."""


def cache_dir() -> Path:
    """Where packages are kept: ``$KINETIX_CACHE_DIR/solves``, default ``~/.cache/kinetix/solves``."""
    root = os.environ.get("KINETIX_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kinetix"
    return Path(root) / "solves"


@dataclasses.dataclass
class Fingerprint:
    """A package's name, and what it was computed from, to tell cheaply whether it still holds."""

    name: str
    context: str
    watched: list  # (dict, its keys then, its values then), each dict once: objects' state, globals, modules
    tensors: list  # (tensor, its version counter then): in-place changes
    cells: list  # (closure cell, its contents then)

    def current(self) -> bool:
        """Whether nothing it was computed from has changed since (identities, not values: cheap)."""
        return (self.context == _context()
                and all(tensor._version == version for tensor, version in self.tensors)
                and all(cell.cell_contents is contents for cell, contents in self.cells)
                and all(len(mapping) == len(keys) and all(map(operator.is_, map(mapping.get, keys, _NONE_SUCH), values))
                        for mapping, keys, values in self.watched))


_NONE_SUCH = itertools.repeat(object())  # what a missing key reads as: the same object as no value


def fingerprint(integration, shapes: tuple, vectorize: bool) -> Fingerprint | None:
    """The fingerprint naming the package of ``integration``'s program for input ``shapes``; ``None``
    where some function of the problem cannot be described."""
    problem = integration.problem
    parts = (shapes, vectorize, str(problem.y0.dtype), str(problem.y0.device), integration.method, problem.func,
             problem.jac, problem.time_derivative, problem.autonomous, problem.max_steps, integration.controller,
             float(integration.origin), problem.rtol, problem.atol, type(integration))
    description = _Describer()
    context = _context()
    try:
        text = description(parts)
    except _Unknown:
        return None
    sources = [_package_sources(name) for name in sorted(description.packages)]
    if None in sources:
        return None
    name = hashlib.sha256((context + text + "".join(sources)).encode()).hexdigest()
    watched = {}
    for mapping, items in description.watched:  # the same dict is met once per object that reads it
        watched.setdefault(id(mapping), (mapping, tuple(key for key, _ in items), tuple(value for _, value in items)))
    return Fingerprint(name, context, list(watched.values()), description.tensors, description.cells)


def _context() -> str:
    """What every program depends on beyond its problem: torch, Python, the CPU, inductor's environment
    (where it keeps its caches aside), the default dtype and kinetix's settings."""
    inductor = sorted((key, value) for key, value in os.environ.items()
                      if key.startswith("TORCHINDUCTOR_") and key not in _CACHE_LOCATIONS)
    machine = (torch.__version__, sys.version_info[:2], platform.machine(), torch.backends.cpu.get_cpu_capability(),
               inductor, torch.get_default_dtype())
    return repr(machine) + _kinetix_settings()


# Where inductor keeps its caches changes no program; inductor itself sets this variable when it first compiles.
_CACHE_LOCATIONS = {"TORCHINDUCTOR_CACHE_DIR"}


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


def load_or_build(make_program, arguments: tuple, path: Path, vectorize: bool):
    """The package at ``path``, built first (from ``make_program()``) if it is missing or unreadable. One
    thread at a time: ``torch.export`` is not thread-safe, and a thread that waited finds the package built."""
    with _BUILDING:
        if path.is_file():
            try:
                return load(path)
            except RuntimeError as error:
                warnings.warn(f"the solve package {path} could not be loaded ({error}); building it again",
                              RuntimeWarning, stacklevel=4)
        build(make_program(), arguments, path, vectorize)
        return load(path)


_BUILDING = threading.Lock()


class _Describer:
    """Turns objects into text that changes whenever their behaviour could; records the top-level
    packages whose sources define them. Raises :class:`_Unknown` for anything it cannot describe."""

    _MODULE_INTERNALS = frozenset(vars(torch.nn.Module())) - {"training"}
    _HOOKS = tuple(key for key in _MODULE_INTERNALS if "hook" in key)

    def __init__(self):
        self.packages: set[str] = set()
        self.watched: list = []
        self.tensors: list = []
        self.cells: list = []
        self._seen: dict[int, tuple[int, object]] = {}  # holding the object keeps its id from being reused

    def _watch(self, mapping: dict) -> dict:
        self.watched.append((mapping, tuple(mapping.items())))
        return mapping

    def __call__(self, value) -> str:
        if value is None or isinstance(value, (numbers.Number, str, bytes, torch.dtype, torch.device)):
            return repr(value)
        if isinstance(value, torch.Tensor):
            self.tensors.append((value, value._version))
            data = value.detach().cpu()
            data = (data.to_dense() if data.layout != torch.strided else data).contiguous()
            digest = hashlib.sha256(data.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
            return f"tensor({data.dtype},{tuple(data.shape)},{digest})"
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
        if value is Ellipsis or type(value).__module__ == "typing" or type(value).__name__ == "_tuplegetter":
            return repr(value)
        if isinstance(value, re.Pattern):
            return f"re({value.pattern!r},{value.flags})"
        if isinstance(value, (staticmethod, classmethod, functools.cached_property)):
            return f"{type(value).__name__}({self(getattr(value, '__func__', None) or value.func)})"
        if isinstance(value, property):
            return f"property({self((value.fget, value.fset, value.fdel))})"
        if isinstance(value, types.CodeType):
            return f"code({value.co_code.hex()},{self(value.co_consts)},{self(value.co_names)})"
        if isinstance(value, types.ModuleType):
            return f"module({value.__name__})"
        if isinstance(value, types.MethodType):
            return f"method({self(value.__func__)},{self(value.__self__)})"
        if isinstance(value, types.FunctionType):
            cells = value.__closure__ or ()
            closure = tuple(cell.cell_contents for cell in cells)
            self.cells.extend(zip(cells, closure))
            return (f"function({self._name(value)},{self(value.__code__)},"
                    f"{self((value.__defaults__, value.__kwdefaults__, closure, self._globals(value)))})")
        if isinstance(value, type):
            return f"class({self._name(value)},{self(self._class_state(value))})"
        if isinstance(value, types.BuiltinFunctionType):
            owner = getattr(value, "__self__", None)
            if getattr(value, "__module__", None) is None and isinstance(owner, type):  # tuple.__new__
                return f"builtin({self._name(owner)}.{value.__name__})"
            return self._name(value)
        if isinstance(value, torch.nn.Module):
            if any(getattr(module, key) for module in value.modules() for key in self._HOOKS):
                raise _Unknown("a module with hooks")
            for mapping in (vars(value), value._parameters, value._buffers, value._modules):
                self._watch(mapping)
            state = {key: item for key, item in vars(value).items() if key not in self._MODULE_INTERNALS}
            return (f"module({self(type(value))},{self(dict(value.named_parameters()))},"
                    f"{self(dict(value.named_buffers()))},{self(dict(value.named_children()))},{self(state)})")
        if hasattr(value, "__dict__") and not _foreign(type(value).__module__):
            state = self._watch(vars(value))
            if _ours(type(value).__module__):  # kinetix's private attributes are caches of its public ones
                state = {key: item for key, item in state.items() if not key.startswith("_")}
            return f"object({self(type(value))},{self(state)})"
        raise _Unknown(type(value))  # e.g. functools.partial: its state is not in its __dict__

    def _globals(self, function: types.FunctionType) -> dict:
        """The module-level names a user's function reads, and the attributes it may read of a user's
        module (a tensor or setting it uses is part of what it computes); none for kinetix's own code,
        whose sources and settings the fingerprint holds."""
        if _ours(function.__module__):
            return {}
        names, codes = set(), [function.__code__]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            codes.extend(constant for constant in code.co_consts if isinstance(constant, types.CodeType))
        found = {}
        self._watch(function.__globals__)
        for name in sorted(names):
            value = function.__globals__.get(name, function.__globals__)
            if value is function.__globals__:
                continue
            found[name] = value
            if isinstance(value, types.ModuleType) and not _foreign(value.__name__) and not _ours(value.__name__):
                self._watch(vars(value))
                found[name] = {attribute: getattr(value, attribute) for attribute in sorted(names)
                               if hasattr(value, attribute)}
        return found

    def _class_state(self, cls: type) -> dict:
        """What a user's class defines (methods, class attributes), its bases' outside Python and torch
        included; nothing for Python's, torch's and kinetix's classes."""
        if _foreign(cls.__module__) or _ours(cls.__module__):
            return {}
        for base in cls.__mro__:
            if not _foreign(base.__module__):
                self.watched.append((base.__dict__, tuple(base.__dict__.items())))
        return {f"{base.__qualname__}.{key}": member for base in cls.__mro__ if not _foreign(base.__module__)
                for key, member in vars(base).items()
                if not (key.startswith("__") and key.endswith("__")) and key != "_abc_impl"}

    def _name(self, named) -> str:
        module = getattr(named, "__module__", None)
        if module is None:
            raise _Unknown(f"{named!r} has no module")  # made by exec: no source to hold
        package = module.split(".")[0]
        if not _foreign(module):
            self.packages.add(package)
        version = getattr(sys.modules.get(package), "__version__", "") if _installed(package) else ""
        qualified = getattr(named, "__qualname__", getattr(named, "__name__", "?"))
        return f"{module}{version and '@' + str(version)}.{qualified}"


def _ours(module: str | None) -> bool:
    """Whether ``module`` is kinetix's own (its plugins, like users' code, are described in full)."""
    return (module or "").split(".")[0] == "kinetix"


@dataclasses.dataclass(frozen=True)
class _Settings:
    """kinetix's settings as last described: how many modules were loaded then, and each setting's module
    dictionary, name and value then (in order), with their text."""

    modules: int = -1
    dicts: tuple = ()
    keys: tuple = ()
    values: tuple = ()
    text: str = ""


_settings = _Settings()


def _kinetix_settings() -> str:
    """kinetix's module-level settings (``UPPER_CASE`` numbers and strings) as they are now, in case one
    was changed at run time; described again only when modules were imported or a setting replaced."""
    global _settings
    known = _settings
    if known.modules == len(sys.modules) and all(map(operator.is_, map(dict.get, known.dicts, known.keys), known.values)):
        return known.text
    modules = len(sys.modules)
    found = sorted((name, key, value, vars(module)) for name, module in list(sys.modules.items())
                   if (name == "kinetix" or name.startswith("kinetix.")) and module
                   for key, value in vars(module).items() if key.isupper() and isinstance(value, (numbers.Number, str)))
    _settings = _Settings(modules, tuple(entry[3] for entry in found), tuple(entry[1] for entry in found),
                          tuple(entry[2] for entry in found), repr([entry[:3] for entry in found]))
    return _settings.text


def _foreign(module: str) -> bool:
    """Whether ``module`` belongs to Python, torch or an installed library, whose versions the fingerprint
    names instead of describing their code and state."""
    package = module.split(".")[0]
    return package in ("builtins", "torch") or package in sys.stdlib_module_names or _installed(package)


@functools.cache
def _installed(package: str) -> bool:
    """Whether the top-level ``package`` was installed into site-packages (a library), rather than being
    a project's own code (kinetix, an editable plugin, the user's scripts)."""
    if package == "kinetix":
        return False
    origin = getattr(sys.modules.get(package), "__file__", None) or ""
    libraries = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    return any(origin.startswith(folder + os.sep) for folder in libraries)


@functools.cache
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
