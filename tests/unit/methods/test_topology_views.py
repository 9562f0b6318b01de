"""Views: each participant's view of a shared conversation, built incrementally."""

from __future__ import annotations

from agorakit.core.messages import Message
from agorakit.methods.topology.scope import Views, view_for


def reply(name: str, text: str) -> Message:
    return Message("assistant", text, name=name)


def shape(view: list[Message]) -> list[tuple[str, str | None, str | None]]:
    return [(m.role, m.content, m.name) for m in view]


def test_an_incremental_view_equals_one_built_from_scratch() -> None:
    views = Views()
    conversation = [Message("user", "task", name="user")]
    for turn in range(9):
        speaker = f"a{turn % 3}"
        for name in ("a0", "a1", "a2"):
            assert shape(views.of(name, conversation)) == shape(view_for(name, conversation))
        conversation.append(reply(speaker, f"reply {turn}"))
    assert shape(views.of("a1", conversation)) == [
        ("user", "task", "user"),
        *[("assistant" if t % 3 == 1 else "user", f"reply {t}", f"a{t % 3}") for t in range(9)],
    ]


def test_a_view_is_a_copy_the_participant_may_edit() -> None:
    views = Views()
    conversation = [Message("user", "task"), reply("a", "one")]
    first = views.of("b", conversation)
    first.clear()
    assert shape(views.of("b", conversation)) == [("user", "task", None), ("user", "one", "a")]


def test_a_conversation_that_was_not_just_appended_to_is_seen_afresh() -> None:
    views = Views()
    views.of("b", [Message("user", "task"), reply("a", "one")])
    other = [Message("user", "another task"), reply("c", "two"), reply("b", "three")]
    assert shape(views.of("b", other)) == shape(view_for("b", other))
    assert shape(views.of("b", other[:1])) == [("user", "another task", None)]
