"""The hooks a kinetix plugin can implement.

Each hook receives a ``register`` callback and calls it once per item it contributes, so one
plugin can add several named items::

    import kinetix

    @kinetix.hookimpl
    def register_mechanisms(register):
        register("brusselator", make_brusselator)

Built-in pieces are registered through these same hooks (see ``kinetix.plugins``); built-ins load
first, so a name they register stays theirs (another plugin's item of that name is reachable as
``plugin::name``). Installed distributions expose their plugin module through the entry-point
group ``kinetix``.
"""

import pluggy

hookspec = pluggy.HookspecMarker("kinetix")
hookimpl = pluggy.HookimplMarker("kinetix")


@hookspec
def register_mechanisms(register):
    """Add mechanisms: ``register(name, factory, description="")``.

    ``factory(**options)`` returns a :class:`kinetix.Mechanism`. A family of mechanisms addressed
    as ``"name:argument"`` (``"cantera:gri30.yaml"``) is registered once under ``name``; its
    factory is then called as ``factory(argument, **options)``.
    """


@hookspec
def register_solvers(register):
    """Add ODE solvers: ``register(name, factory, description="")``.

    ``factory()`` returns a :class:`kinetix.solvers.Solver`.
    """


@hookspec
def register_networks(register):
    """Add vector-field networks: ``register(name, factory, description="")``.

    ``factory(n_species, **config)`` returns a ``torch.nn.Module`` mapping ``(t, y)`` with ``y``
    shaped ``(..., n_species)`` to ``dy/dt`` of the same shape.
    """


@hookspec
def register_losses(register):
    """Add trajectory losses: ``register(name, factory, description="")``.

    ``factory(**config)`` returns a :class:`kinetix.losses.Loss`.
    """


@hookspec
def register_trainers(register):
    """Add surrogate trainers: ``register(name, factory, description="")``.

    ``factory(config)`` returns a :class:`kinetix.training.Trainer`.
    """
