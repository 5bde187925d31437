"""When to send a batch, and how big: the adaptive part of micro-batching.

Requests that arrive while a model's workers are busy queue up and leave together, so
batches grow with load on their own. Two things are tuned per model as it runs:

* the *wait*: an idle worker holds a short queue back only when the measured arrival
  rate says the batch would fill within the time still allowed (``max_wait_ms``), so
  a lightly loaded model answers at once and a busy one amortises its calls;
* the *size*: additive increase, multiplicative decrease (as in Clipper) keeps one
  batch's predict time under the model's latency target, up to ``max_batch``. Only a
  batch that alone breaks the target halves it: under a queue, smaller batches would
  only make the wait longer.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class BatchPolicy:
    max_batch: int = 64
    max_wait_s: float = 0.002
    #: The latency target one batch's predict must stay under; None: no limit.
    target_s: float | None = None
    #: The current cap on rows per batch, between 1 and ``max_batch``.
    size: int = dataclasses.field(init=False)
    _gap_s: float = dataclasses.field(init=False, default=1.0)
    _last_arrival: float | None = dataclasses.field(init=False, default=None)

    def __post_init__(self) -> None:
        self.size = self.max_batch

    def arrived(self, now: float) -> None:
        """Note a request's arrival: an exponential average of the gaps between them."""
        if self._last_arrival is not None:
            self._gap_s += 0.1 * ((now - self._last_arrival) - self._gap_s)
        self._last_arrival = now

    def wait_s(self, queued_rows: int, oldest_s: float, now: float) -> float:
        """How much longer an idle worker should wait for more rows: 0 to send now."""
        if queued_rows >= self.size or self.max_wait_s <= 0:
            return 0.0
        left = self.max_wait_s - (now - oldest_s)
        to_fill = (self.size - queued_rows) * self._gap_s
        return to_fill if 0 < to_fill <= left else 0.0

    def finished(self, rows: int, predict_s: float) -> None:
        """Adapt the cap to how long a batch of ``rows`` took to predict."""
        if self.target_s is None:
            return
        if predict_s > self.target_s and rows > 1:
            self.size = max(1, rows // 2)
        elif predict_s < self.target_s / 2 and rows >= self.size:
            self.size = min(self.max_batch, self.size + 1)
