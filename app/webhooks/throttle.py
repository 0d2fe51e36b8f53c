"""Slowing down secret guessing: failed authentications counted per client address.

Each address has a token bucket holding up to `per_minute` failures, refilled at `per_minute`
tokens a minute. A failure spends a token. An address with no token left is answered 429 for
every request, the right secret included, until a token has grown back: otherwise a guesser
would learn from a 200 which guess was right however fast it guessed, so a wrong guess costs time
whatever comes next. Only failures spend tokens, so an address that never guesses wrong (Mobivate)
is never refused. The address is the real peer (`app.api.client_address`: a trusted proxy's
`X-Forwarded-For` only when it is an IP address). The table is bounded: past `max_addresses` the
least recently seen address is forgotten. Each process keeps its own table.
"""

import time
from collections import OrderedDict
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._max = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._capacity > 0

    def fail(self, address: str) -> bool:
        """Count one failure from `address`; False once it has failed too often (refuse it)."""
        if not self.enabled:
            return True
        now = self._clock()
        tokens, last = self._buckets.pop(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[address] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed

    def throttled(self, address: str) -> bool:
        """Whether `address` has no failure left to spend (every request of it is refused)."""
        if not self.enabled or address not in self._buckets:
            return False
        tokens, last = self._buckets[address]
        return tokens + (self._clock() - last) * self._rate < 1.0

    def retry_after(self, address: str) -> int:
        """Whole seconds until `address` may fail once more."""
        tokens, last = self._buckets.get(address, (self._capacity, 0.0))
        tokens += (self._clock() - last) * self._rate
        if tokens >= 1.0 or self._rate <= 0:
            return 0
        return max(1, int((1.0 - tokens) / self._rate + 0.999))
