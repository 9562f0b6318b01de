"""The agent runner on real models: typed outputs on the embedded model, and streaming that
really streams (the first text arrives before the completion ends) on the embedded model and
on the ``openai`` backend against a real llama_cpp.server."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel

from agorakit import Agent
from agorakit.core.stream import RunFinished, TextDelta, UsageEvent
from agorakit.models.base import ChatModel, Sampling
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.models.openai_backend import OpenAIModel

pytestmark = pytest.mark.integration

ALIAS = "gemma-3-270m"


class Book(BaseModel):
    title: str
    author: str
    year: int


SUBJECTS = [
    "Pride and Prejudice",
    "Moby-Dick",
    "War and Peace",
    "Don Quixote",
    "Hamlet",
    "The Odyssey",
    "Frankenstein",
    "Dracula",
    "Ulysses",
    "Madame Bovary",
]


async def test_output_type_gives_ten_valid_instances_on_the_embedded_model(gemma: LlamaCppModel) -> None:
    agent = Agent(
        "librarian",
        gemma,
        instructions="Describe the book the user names.",
        output_type=Book,
        sampling=Sampling(temperature=0.0, max_tokens=96),
        trace=False,
    )
    valid = 0
    for subject in SUBJECTS:
        result = await agent.run(f"The book: {subject}")
        if result.stop_reason == "final_answer" and isinstance(result.output, Book) and result.output.title:
            valid += 1
    assert valid == 10


async def first_delta_and_completion_times(model: ChatModel) -> tuple[float, float, str, int]:
    agent = Agent(
        "writer",
        model,
        instructions="Continue the list.",
        sampling=Sampling(temperature=0.0, max_tokens=24),
        trace=False,
    )
    first: float | None = None
    completed: float | None = None
    deltas: list[str] = []
    output = ""
    async for event in agent.run_stream("Count from one to twenty in words: one, two, three,"):
        if isinstance(event, TextDelta):
            first = first if first is not None else time.monotonic()
            deltas.append(event.text)
        elif isinstance(event, UsageEvent):
            completed = time.monotonic()  # emitted when the completion has ended and is accounted
        elif isinstance(event, RunFinished):
            output = event.result.output or ""
    assert first is not None and completed is not None
    assert "".join(deltas).strip() == output.strip()
    return first, completed, output, len(deltas)


async def test_the_embedded_model_streams_text_before_the_completion_ends(gemma: LlamaCppModel) -> None:
    first, completed, output, count = await first_delta_and_completion_times(gemma)
    assert count >= 5 and output
    # Tokens arrive one by one while the model works, not in one burst at the end.
    assert completed - first > 0.05


async def test_the_openai_backend_streams_text_before_the_completion_ends(llama_server: str) -> None:
    model = OpenAIModel(ALIAS, llama_server, timeout=120)
    try:
        first, completed, output, count = await first_delta_and_completion_times(model)
    finally:
        await model.aclose()
    assert count >= 5 and output
    # Tokens arrive one by one while the model works, not in one burst at the end.
    assert completed - first > 0.05
