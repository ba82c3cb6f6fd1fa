"""The scaled MLP: its analytic Jacobian against autograd for every input and output transform,
and the signed-log input defined at zero and rebuilt from its saved configuration."""

import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.networks import ScaledMLP

SCALE = torch.tensor([1.0, 3.6e-5, 1.0], dtype=torch.float64)


def network(**options) -> ScaledMLP:
    torch.manual_seed(0)
    return ScaledMLP(3, width=6, depth=3, input_shift=[0.0, 0.0, 0.1], input_scale=SCALE,
                     output_scale=[0.04, 1e-4, 0.04], time_scale=2.0, **options)


@pytest.mark.parametrize("output", ["linear", "sinh"])
@pytest.mark.parametrize("input", ["affine", "asinh"])
def test_the_analytic_jacobian_is_autograds(input, output):
    field = network(input=input, output=output)
    y = torch.tensor([[1.0, 0.0, 0.0], [0.6, 2e-5, 0.4], [1e-9, 3e-8, 0.99]], dtype=torch.float64)
    expected = torch.stack([torch.func.jacrev(lambda v: field(None, v))(row) for row in y])
    torch.testing.assert_close(field.jacobian(None, y), expected, rtol=1e-12, atol=1e-300)


def test_the_signed_log_input_separates_decades_and_is_linear_near_zero():
    field = network(input="asinh", input_floor=1e-4)
    y = torch.tensor([[0.0, 0.0, 0.1], [0.0, 3.6e-12, 0.1], [1e-2, 3.6e-7, 0.1], [1.0, 3.6e-5, 0.1]], dtype=torch.float64)
    x = field._normalised(y)
    torch.testing.assert_close(x[:, 1], torch.asinh(y[:, 1] / (3.6e-5 * 1e-4)), rtol=1e-14, atol=0)
    assert x[0].tolist() == [0.0, 0.0, 0.0] and x[1, 1] == pytest.approx(1e-3, rel=1e-6)  # linear near zero
    assert (x[2:, 0] - x[1:-1, 0]).min() > 1.0  # decades of A two units apart or more


def test_a_saved_network_rebuilds_from_its_config():
    field = network(input="asinh", input_floor=1e-5, output="sinh")
    rebuilt = ScaledMLP(**field.config)
    rebuilt.load_state_dict(field.state_dict())
    y = torch.tensor([[0.3, 1e-6, 0.7]], dtype=torch.float64)
    assert torch.equal(rebuilt(None, y), field(None, y))


@pytest.mark.parametrize("options, message", [({"input": "log"}, "unknown input 'log'"),
                                              ({"input": "asinh", "input_floor": 0.0}, "input_floor must be positive"),
                                              ({"input_floor": float("nan")}, "input_floor must be positive")])
def test_bad_input_settings_are_refused_with_the_choices(options, message):
    with pytest.raises(ConfigError, match=message):
        network(**options)
