"""Built-in losses."""

from ..hookspecs import hookimpl
from ..losses import AsinhMAE, ScaledMAE, ScaledMSE


@hookimpl
def register_losses(register):
    register("scaled_mae", ScaledMAE, description="mean |pred - target| / scale (the paper's loss)")
    register("scaled_mse", ScaledMSE, description="mean ((pred - target) / scale)^2")
    register("asinh_mae", AsinhMAE, description="mean |asinh(pred/f) - asinh(target/f)|, f = floor * scale")
