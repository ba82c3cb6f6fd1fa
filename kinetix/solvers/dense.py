"""Dense output: evaluating recorded steps at any time, without clamping steps to output times."""

from __future__ import annotations

import torch


class StepRecords:
    """Steps of a batched solve, recorded one iteration at a time for the whole batch.

    Each iteration records ``accepted`` ``(B,)`` or ``(B, 1)`` (members that did not accept a step
    are marked so), ``t_old``, ``t_new`` (same shape), ``y_old``, ``y_new`` ``(B, n)`` and the interpolation
    coefficients ``q`` ``(B, r, n)``. :meth:`evaluate` interpolates at per-member times.
    """

    def __init__(self):
        self._pending: list[tuple[torch.Tensor, ...]] = []
        self._stacked: tuple[torch.Tensor, ...] | None = None

    def record(self, accepted, t_old, t_new, y_old, y_new, q) -> None:
        self._pending.append((accepted, t_old, t_new, y_old, y_new, q))

    def __len__(self) -> int:
        return len(self._pending) + (0 if self._stacked is None else self._stacked[0].shape[1])

    def clear(self) -> None:
        self._pending.clear()
        self._stacked = None

    def _tensors(self) -> tuple[torch.Tensor, ...]:
        if self._pending:
            fresh = [torch.stack(parts, dim=1) for parts in zip(*self._pending)]
            fresh[:3] = [part.reshape(part.shape[:2]) for part in fresh[:3]]  # (B, W) from columns
            self._pending.clear()
            if self._stacked is not None:
                fresh = [torch.cat([old, new], dim=1) for old, new in zip(self._stacked, fresh)]
            self._stacked = tuple(fresh)
        return self._stacked

    def evaluate(self, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States at ``times`` ``(B, m)``: ``(values (B, m, n), covered (B, m))``.

        ``covered`` is false where no recorded accepted step contains the time (in ``[t_old, t_new]``);
        ``values`` there are meaningless. Differentiable with respect to ``times`` and the records.
        """
        accepted, t_old, t_new, y_old, y_new, q = self._tensors()
        batch, window = accepted.shape
        # end of the latest accepted step so far: non-decreasing along the records
        ends = torch.where(accepted, t_new, torch.full_like(t_new, -torch.inf)).cummax(dim=1).values
        index = torch.searchsorted(ends.contiguous(), times.detach().contiguous()).clamp(max=window - 1)
        rows = torch.arange(batch, device=index.device).unsqueeze(1)
        start, end = t_old[rows, index], t_new[rows, index]
        covered = accepted[rows, index] & (times >= start) & (times <= end)
        length = end - start  # zero for the records of members that had stopped: keep theta (and gradients) finite
        theta = ((times - start) / torch.where(length > 0, length, torch.ones_like(length))).unsqueeze(-1)
        return interpolate(theta, y_old[rows, index], y_new[rows, index], q[rows, index]), covered


class DenseOutput:
    """Fills the output times ``t_out`` ``(T,)`` of a batch that starts at ``y0`` ``(B, n)``.

    Records are evaluated and forgotten by :meth:`flush`, so memory stays bounded however many
    steps a solve takes; no host-device synchronisation.
    """

    def __init__(self, t_out: torch.Tensor, y0: torch.Tensor):
        batch = y0.shape[0]
        at_start = (t_out == t_out[0]).view(1, -1)
        self.t_out = t_out.expand(batch, -1)
        self.values = torch.where(at_start.unsqueeze(-1), y0.unsqueeze(1), torch.full_like(y0, torch.nan).unsqueeze(1))
        self.filled = at_start.expand(batch, -1).clone()
        self.records = StepRecords()

    def flush(self) -> None:
        if len(self.records) == 0:
            return
        values, covered = self.records.evaluate(self.t_out)
        covered = covered & ~self.filled
        self.values = torch.where(covered.unsqueeze(-1), values, self.values)
        self.filled = self.filled | covered
        self.records.clear()


def interpolate(theta: torch.Tensor, y_old: torch.Tensor, y_new: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``(1-θ) y_old + θ (y_new + (1-θ)(q_1 + θ (q_2 + θ (...))))``; ``q`` ``(..., r, n)``, ``θ`` ``(..., 1)``."""
    inner = q[..., -1, :] if q.shape[-2] else torch.zeros_like(y_old)
    for r in range(q.shape[-2] - 2, -1, -1):
        inner = q[..., r, :] + theta * inner
    return (1 - theta) * y_old + theta * (y_new + (1 - theta) * inner)
