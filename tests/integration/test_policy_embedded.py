"""generate_policy on the real embedded model: grammar-constrained to the policy schema."""

from __future__ import annotations

import pytest

from agorakit.kernel import Kernel
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.policy import Policy, generate_policy
from agorakit.tools import tool

pytestmark = pytest.mark.integration


@tool
def send_money(recipient: str, amount: float) -> str:
    """Send money to a bank account.

    Args:
        recipient: IBAN of the payee.
        amount: Amount in euros.
    """
    return "sent"


@tool
def read_url(url: str) -> str:
    """Fetch a web page and return its text."""
    return ""


@tool
def get_balance() -> float:
    """The account balance in euros."""
    return 0.0


async def test_embedded_model_writes_a_loadable_policy_for_the_given_tools(gemma: LlamaCppModel) -> None:
    tools = [send_money.spec, read_url.spec, get_balance.spec]
    policy = await generate_policy(
        "Pay 50 euros to GB29NWBK60161331926819 for the rent.", tools, gemma, kernel=Kernel(timeout=600)
    )
    assert isinstance(policy, Policy)
    assert policy.source == "<generated>"
    assert set(policy.tools) <= {"send_money", "read_url", "get_balance"}
    # It loads again from its own file form, against the same tools.
    again = Policy.from_dict(policy.to_dict(), known_tools=tools)
    assert again.to_dict() == policy.to_dict()
    # Whatever it wrote, tools outside the list stay denied.
    assert not policy.check("delete_account", {}).allowed
