"""Prices of hosted models, in US dollars per million tokens (input, output).

Local backends (llamacpp, scripted, any openai: URI with a custom base URL)
cost nothing unless the user gives a price. Prices are list prices at the
time of writing; pass ``prices=`` to the kernel to use your own.
"""

from __future__ import annotations

from collections.abc import Mapping

from agorakit.core.usage import Usage

# model name prefix -> (input $/1M tokens, output $/1M tokens)
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}


class PriceTable:
    """Looks up a model's price by the longest matching name prefix."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None) -> None:
        table = dict(DEFAULT_PRICES)
        table.update(prices or {})
        # Longest prefix first, so "gpt-4o-mini" wins over "gpt-4o".
        self._prices = sorted(table.items(), key=lambda item: len(item[0]), reverse=True)

    def price(self, model_name: str) -> tuple[float, float] | None:
        for prefix, price in self._prices:
            if model_name.startswith(prefix):
                return price
        return None

    def cost(self, model_name: str, usage: Usage, *, hosted: bool) -> float:
        if not hosted:
            return 0.0
        price = self.price(model_name)
        if price is None:
            return 0.0
        return (usage.input_tokens * price[0] + usage.output_tokens * price[1]) / 1_000_000
