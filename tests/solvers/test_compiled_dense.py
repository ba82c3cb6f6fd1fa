"""The compiled program's dense output (plain torch: no compiler needed) against the eager loop's."""

import torch

from kinetix.solvers.compiled import dense_at, inverse_length
from kinetix.solvers.dense import interpolate

# step lengths for which length * (1 / length) rounds below 1
LENGTHS = [1.0377, 1.0387, 1.0419, 1.0456]


def test_the_output_at_a_steps_end_is_the_steps_final_state_exactly():
    t = torch.zeros(4, 1, dtype=torch.float64)
    t_new = torch.tensor(LENGTHS, dtype=torch.float64).view(4, 1)
    assert ((t_new - t) * inverse_length(t, t_new) < 1).all()
    generator = torch.Generator().manual_seed(0)
    y, y_new = (torch.rand(4, 3, dtype=torch.float64, generator=generator) for _ in range(2))
    q = 10 * torch.rand(4, 4, 3, dtype=torch.float64, generator=generator)
    out = dense_at(t_new.view(-1), t, t_new, inverse_length(t, t_new), y, y_new, q)  # (member, time, n)
    members = torch.arange(4)
    assert torch.equal(out[members, members], y_new)  # each member at its own step's end


def test_inside_a_step_it_is_the_eager_loops_interpolation_to_rounding():
    t = torch.tensor([[0.5], [2.0]], dtype=torch.float64)
    t_new = torch.tensor([[1.5], [2.25]], dtype=torch.float64)
    t_out = torch.tensor([0.75, 1.0, 2.1, 2.2], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    y, y_new = (torch.rand(2, 3, dtype=torch.float64, generator=generator) for _ in range(2))
    q = torch.rand(2, 4, 3, dtype=torch.float64, generator=generator)
    theta = ((t_out - t) / (t_new - t)).unsqueeze(-1)  # the eager loop's quotient
    expected = interpolate(theta, y.unsqueeze(1), y_new.unsqueeze(1), q.unsqueeze(1))
    got = dense_at(t_out, t, t_new, inverse_length(t, t_new), y, y_new, q)
    inside = (t_out >= t) & (t_out <= t_new)  # the outputs that a step writes
    assert inside.sum() == 4
    torch.testing.assert_close(got[inside], expected[inside], rtol=1e-15, atol=1e-15)
