"""What every method's run shares with an agent's: the scaffold, run_sync closing backends, streaming."""

from __future__ import annotations

from agorakit import ScriptedModel
from agorakit.core.stream import RunFinished, TextDelta, UsageEvent
from agorakit.methods.vanilla import Vanilla


class Closable(ScriptedModel):
    closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_run_sync_closes_the_backends_it_used_once_each() -> None:
    default, judge = Closable(["The answer is 4."]), Closable([])
    result = Vanilla(default, models={"judge": judge}, trace=False).run_sync("2 + 2?")
    assert result.final_answer == "4"
    assert (default.closed, judge.closed) == (1, 1)


async def test_a_method_streams_its_agents_text_then_the_result() -> None:
    method = Vanilla(ScriptedModel(["The answer is 4."]), trace=False)
    events = [event async for event in method.run_stream("2 + 2?")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer is 4."
    assert [type(e).__name__ for e in events][-2:] == ["UsageEvent", "RunFinished"]
    usage = next(e for e in events if isinstance(e, UsageEvent))
    assert usage.total.calls == 1
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.final_answer == "4"
