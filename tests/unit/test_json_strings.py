"""The logits processor that opens and closes JSON strings for the embedded model (no model needed)."""

from __future__ import annotations

import numpy as np

from agorakit.models.json_strings import UNSURE_BELOW, StringTokens, longest_runs, steer, string_tokens

# A toy vocabulary: ten word pieces, then the string tokens at ids 10-13.
VOCAB = [*"abcdefgh", "-", "7", '"', '"}', '":', '":"']
QUOTE, QUOTE_BRACE, KEY_END, KEY_END_STRING = 10, 11, 12, 13
SEVEN = 9
TOKENS = StringTokens(
    np.array([QUOTE, QUOTE_BRACE], dtype=np.intp), key_end=KEY_END, key_end_string=KEY_END_STRING, digits={SEVEN: "7"}
)
PROMPT_LENGTH = 5  # token ids of a prompt the processor never reads


def ids(*generated: int) -> np.ndarray:
    return np.array([0] * PROMPT_LENGTH + list(generated), dtype=np.intc)


class FakeLlm:
    def n_vocab(self) -> int:
        return len(VOCAB)

    def detokenize(self, tokens: list[int]) -> bytes:
        return "".join(VOCAB[t] for t in tokens).encode()


def scores(**logits: float) -> np.ndarray:
    out = np.full(len(VOCAB), -20.0, dtype=np.float32)
    for name, value in logits.items():
        out[int(name.removeprefix("t"))] = value
    return out


def test_the_vocabulary_scan_finds_closers_and_key_ends() -> None:
    found = string_tokens(FakeLlm())
    assert found.closers.tolist() == [QUOTE, QUOTE_BRACE]
    assert (found.key_end, found.key_end_string) == (KEY_END, KEY_END_STRING)
    assert found.digits == {SEVEN: "7"}


def test_a_confident_model_is_left_alone() -> None:
    before = scores(t9=10.0, t8=2.0)
    after = steer(TOKENS, "", PROMPT_LENGTH)(ids(), before.copy())
    assert int(after.argmax()) == 9
    assert after[:12].tolist() == before[:12].tolist()


def test_an_unsure_model_closes_the_string() -> None:
    unsure = np.zeros(len(VOCAB), dtype=np.float32)
    unsure[[KEY_END, KEY_END_STRING]] = -20.0
    assert UNSURE_BELOW > 1 / 12  # twelve equally likely tokens
    after = steer(TOKENS, "", PROMPT_LENGTH)(ids(), unsure)
    assert int(after.argmax()) in (QUOTE, QUOTE_BRACE)


def test_a_key_is_ended_with_the_token_that_opens_a_string() -> None:
    after = steer(TOKENS, "", PROMPT_LENGTH)(ids(), scores(t12=12.0, t13=3.0))
    # '":"' now beats '":'; the grammar masks it where no string may follow.
    assert int(after.argmax()) == KEY_END_STRING


def test_longest_runs_of_each_digit() -> None:
    assert longest_runs("Result of calculator: 1004000, -77") == {"1": 1, "0": 3, "4": 1, "7": 2}


def test_an_answer_repeats_a_digit_no_more_often_than_the_prompt_does() -> None:
    answer = steer(TOKENS, "Result of calculator: 77", PROMPT_LENGTH, copy_digits=True)
    confident_seven = scores(t9=10.0, t11=2.0)
    assert int(answer(ids(SEVEN), confident_seven.copy()).argmax()) == SEVEN  # "77" is in the prompt
    assert int(answer(ids(SEVEN, SEVEN), confident_seven.copy()).argmax()) == QUOTE_BRACE  # "777" is not
    # Tool calls and other outputs are not answers copied from results: left alone.
    call = steer(TOKENS, "Result of calculator: 77", PROMPT_LENGTH)
    assert int(call(ids(SEVEN, SEVEN), confident_seven.copy()).argmax()) == SEVEN
