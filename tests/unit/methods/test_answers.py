"""The answer reader never returns text copied from the instruction template (issue 9, item 3)."""

from __future__ import annotations

import pytest

from agorakit import ScriptedModel
from agorakit.methods import create, extract_answer
from agorakit.methods.answers import is_template_text
from agorakit.methods.llm_debate import ANSWER_FORMAT, TEMPLATE

# What a debater of the embedded model wrote in `agora run --method llm_debate --set agents=2 "What is 17 * 23?"`.
ECHO = f"{ANSWER_FORMAT} mendatanguse"


@pytest.mark.parametrize(
    "text",
    [
        '<answer>". mendatanguse',
        ECHO,
        f"{ECHO}\n\n{ECHO}",
        'Finish with a last line of the form "The answer is <answer>".',
        "The answer is <your answer>",
        "Final answer: <final_answer>",
        "\\boxed{<answer>}",
        'The answer is ".',
    ],
)
def test_template_echoes_are_never_the_answer(text: str) -> None:
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"17 * 23 = 391.\nThe answer is 391.\n{ECHO}", "391"),
        (f"The answer is 391.\n{ECHO}\n{ECHO}", "391"),
        (f"We get 391.\n{ECHO}", "391"),
        ("x = 5, so \\boxed{5}.\nThe answer is <answer>", "5"),
        ("\\boxed{<answer>}\nThe answer is 12", "12"),
        ("Answer: B", "B"),
        ("answer = 12", "12"),
    ],
)
def test_the_reader_falls_back_past_template_echoes(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_a_bare_answer_word_states_nothing() -> None:
    text = "If you can not find your answer on the test, ask.\nParis"
    assert extract_answer(text) == "Paris"


def test_phrases_from_the_methods_template_are_skipped() -> None:
    text = "Check carefully whether your answer is correct, then state your answer again."
    assert extract_answer(text) == "correct, then state your answer again"  # without the template: read as given
    assert extract_answer(text, TEMPLATE) is None
    assert extract_answer(f"The answer is Paris.\n{text}", TEMPLATE) == "Paris"


@pytest.mark.parametrize(
    ("candidate", "template_text"),
    [("Paris", False), ("B", False), ("<answer>", True), ('".', True), ("your answer again", True)],
)
def test_is_template_text(candidate: str, template_text: bool) -> None:
    assert is_template_text(candidate, TEMPLATE) is template_text


async def test_llm_debate_does_not_vote_for_a_template_echo() -> None:
    model = ScriptedModel([ECHO, "17 * 23 = 391.\nThe answer is 391"])
    result = await create("llm_debate", model, agents=2, rounds=1, trace=False).run("What is 17 * 23?")
    assert result.final_answer == "391"
    assert result.answer == "The answer is 391 (1 of 2 agents)"
