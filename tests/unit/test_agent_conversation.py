"""Continuing a conversation (one system message, never two) and refusing an empty task."""

from __future__ import annotations

import pytest

from agorakit import Agent, ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message


def test_continuing_a_run_sends_one_system_message() -> None:
    model = ScriptedModel(["Hello Ada.", "Your name is Ada."])
    agent = Agent("assistant", model, instructions="Be brief.", trace=False)
    first = agent.run_sync("My name is Ada.")
    second = agent.run_sync([*first.messages, Message("user", "What is my name?")])
    sent = model.requests[1].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0].content == "Be brief."
    assert [m.content for m in sent[1:]] == ["My name is Ada.", "Hello Ada.", "What is my name?"]
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]


def test_a_different_system_message_is_merged_after_the_agents_instructions() -> None:
    model = ScriptedModel(["Arr, 4."])
    agent = Agent("assistant", model, instructions="Be brief.", trace=False)
    agent.run_sync([Message("system", "Talk like a pirate."), Message("user", "What is 2 + 2?")])
    sent = model.requests[0].messages
    assert [m.role for m in sent] == ["system", "user"]
    assert sent[0].content == "Be brief.\n\nTalk like a pirate."


def test_history_that_starts_with_the_agents_system_message_is_not_repeated() -> None:
    model = ScriptedModel(["4"])
    agent = Agent("assistant", model, instructions="Be brief.", trace=False)
    agent.run_sync("And 2 + 2?", history=[Message("system", "Be brief."), Message("user", "hi")])
    assert [m.role for m in model.requests[0].messages] == ["system", "user", "user"]


@pytest.mark.parametrize("task", ["", "   ", "\n\t"])
def test_an_empty_task_is_a_config_error_before_any_model_call(task: str) -> None:
    model = ScriptedModel(["never sent"])
    agent = Agent("assistant", model, trace=False)
    with pytest.raises(ConfigError, match="the task is empty"):
        agent.run_sync(task)
    assert model.requests == []


def test_a_conversation_of_only_system_messages_is_a_config_error() -> None:
    model = ScriptedModel(["never sent"])
    agent = Agent("assistant", model, trace=False)
    with pytest.raises(ConfigError, match="only system messages"):
        agent.run_sync([Message("system", "Be brief.")])
    assert model.requests == []
