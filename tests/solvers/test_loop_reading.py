"""The compiled loop reads the problem's tensors in every iteration without carrying them from one to the
next (carried, each would be copied every iteration)."""

import torch

from compiled_problems import compiled_integration
from kinetix.solvers.compiled import CARRIED, build_program, loop_reading, problem_key, step_facts


def summed_rows(count, total, constants):
    """One iteration that takes views of its constant ``table`` (rows, a transpose), as kinetics modules do."""
    table = constants["table"]
    rows = [row for row in table]
    return count + 1, total + rows[1] * count + table.T[0].sum()


def test_a_loop_reads_views_of_its_constants_as_a_python_loop_does():
    table = torch.arange(12.0, dtype=torch.float64).reshape(3, 4)
    count, total = torch.tensor(0), torch.zeros(4, dtype=torch.float64)
    while count < 5:
        count, total = summed_rows(count, total, {"table": table})

    def loop(table):
        return loop_reading(lambda count, total, constants: count < 5, summed_rows,
                            (torch.tensor(0), torch.zeros(4, dtype=torch.float64)), {"table": table})

    for run in (loop, torch.compile(loop, fullgraph=True, backend="eager")):
        steps, result = run(table)
        assert int(steps) == 5
        torch.testing.assert_close(result, total, rtol=0, atol=0)


def test_the_whole_solve_carries_the_loop_state_and_reads_the_mechanisms_tensors(robertson):
    integration = compiled_integration(robertson, times=(0.0, 1.0, 10.0))
    y0, t_out = integration.problem.y0, integration.problem.t[1:]
    h0 = torch.full((1, 1), 1e-6, dtype=torch.float64)
    program = build_program(integration, step_facts(problem_key(integration), integration, y0, h0))

    class Program(torch.nn.Module):
        def forward(self, y0, h0, t_out):
            return program(y0, h0, t_out)

    graph = torch.export.export(Program(), (y0, h0, t_out), strict=False).graph
    loop, = [node for node in graph.nodes if node.target is torch.ops.higher_order.while_loop]
    carried, constants = loop.args[2], loop.args[3]
    tensors = [*robertson.parameters(), *robertson.buffers()]
    assert len(carried) == CARRIED
    assert len(constants) >= len(tensors) > 0  # with the closure's tensors (the output times, status codes)
