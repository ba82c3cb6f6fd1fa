"""kinetix plugin: surrogate trainers.

- ``stiff``: the stiff neural-ODE recipe (scaled network, per-species loss, stiff solver);
- ``plain``: a vanilla neural ODE (explicit solver, no scaling), for comparison;
- ``latent``: a reduced surrogate, encoder + latent neural ODE + element-conserving decoder
  (network ``latent``);
- ``progress``: a progress-variable surrogate of constant-pressure ignition, one learned latent
  variable and exact invariants (network ``progress``);
- ``flowmap``: a learned reaction step ``(state, dt) -> state after dt`` fitted to the mechanism's own
  steps, one network evaluation per step (network ``flowmap``).
"""

import kinetix

from .flow_map import FlowMapTrainer
from .flow_map_network import FlowMap
from .latent import LatentTrainer
from .latent_network import LatentODE
from .progress import ProgressTrainer
from .progress_network import ProgressODE
from .config import LossConfig, NetworkConfig, SolverConfig, TrainConfig, parse_config
from .trainer import StiffTrainer

__version__ = "0.1.0"


class PlainTrainer(StiffTrainer):
    """A vanilla neural ODE: explicit Dormand-Prince solver with a step budget, unscaled network
    output and unscaled loss."""

    name = "plain"
    defaults = TrainConfig(
        trainer="plain",
        network=NetworkConfig(input="none", output_scale="none"),
        loss=LossConfig(scale="none"),
        solver=SolverConfig(method="dopri5", max_steps=2000),
    )


@kinetix.hookimpl
def register_networks(register):
    register("latent", LatentODE, description="encoder, latent neural ODE and element-conserving decoder")
    register("progress", ProgressODE, description="progress variable of ignition: exact invariants, learned rate and decoder")
    register("flowmap", FlowMap, description="learned reaction step (state, dt) -> state, keeping elements and enthalpy")


@kinetix.hookimpl
def register_trainers(register):
    register("stiff", StiffTrainer, description="stiff neural ODE: scaled network, per-species loss, stiff solver")
    register("plain", PlainTrainer, description="vanilla neural ODE: explicit solver, no scaling (baseline)")
    register("latent", LatentTrainer, description="reduced surrogate: encoder, latent neural ODE, element-conserving decoder")
    register("progress", ProgressTrainer, description="progress-variable surrogate of constant-pressure ignition, fitted to exact rates")
    register("flowmap", FlowMapTrainer, description="learned reaction step (state, dt) -> state, fitted to the mechanism's own steps")


__all__ = ["FlowMap", "FlowMapTrainer", "LatentODE", "LatentTrainer", "PlainTrainer", "ProgressODE", "ProgressTrainer", "StiffTrainer", "TrainConfig", "parse_config"]
