"""When and how long to wait before retrying a transient model failure."""

from __future__ import annotations

import random
from dataclasses import dataclass

from agorakit.core.errors import TransientModelError


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring a server's Retry-After.

    ``max_attempts`` counts the first try. A Retry-After longer than
    ``max_retry_after`` is not waited out: the error is raised at once, since
    a caller would rather hear "rate limited for 10 minutes" than hang.
    """

    max_attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after = error.retry_after if isinstance(error, TransientModelError) else None
        if retry_after is not None:
            return float(retry_after)
        base = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        return base * (1.0 + random.uniform(0.0, self.jitter))

    def should_retry(self, attempt: int, error: BaseException | None) -> bool:
        if not isinstance(error, TransientModelError) or attempt >= self.max_attempts:
            return False
        retry_after = error.retry_after
        return retry_after is None or retry_after <= self.max_retry_after


NO_RETRY = RetryPolicy(max_attempts=1)
