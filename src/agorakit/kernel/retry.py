"""When and how long to wait before retrying a transient model failure."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agorakit.core.errors import TransientModelError


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring a server's Retry-After.

    ``max_attempts`` counts the first try. Every delay is stretched by a random
    factor in ``[1, 1 + jitter]``, Retry-After included: many agents rate
    limited by one endpoint would otherwise all come back at the same instant
    and be limited again. A Retry-After is therefore never undercut. One longer
    than ``max_retry_after`` (the server's figure, before jitter) is not
    waited out: the error is raised at once, since a caller would rather hear
    "rate limited for 10 minutes" than hang.

    ``rng`` is the random source for the jitter (``None``: the ``random``
    module's); pass ``random.Random(seed)`` for repeatable delays.
    """

    max_attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def delay(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after = error.retry_after if isinstance(error, TransientModelError) else None
        if retry_after is not None:
            base = float(retry_after)
        else:
            base = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        if self.jitter <= 0:
            return base
        uniform = self.rng.uniform if self.rng is not None else random.uniform
        return base * (1.0 + uniform(0.0, self.jitter))

    def should_retry(self, attempt: int, error: BaseException | None) -> bool:
        if not isinstance(error, TransientModelError) or attempt >= self.max_attempts:
            return False
        retry_after = error.retry_after
        return retry_after is None or retry_after <= self.max_retry_after


NO_RETRY = RetryPolicy(max_attempts=1)
