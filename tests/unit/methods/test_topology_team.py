"""Teams as agents and as tools: nesting, shared run, the result flowing back."""

from __future__ import annotations

from agorakit import ScriptedModel
from agorakit.agents import Agent
from agorakit.kernel import RunLedger
from agorakit.methods.topology import GroupChat, Pipeline, sequential_pipeline
from agorakit.models.scripted import call


async def test_team_as_tool_runs_on_the_argument_and_its_answer_flows_back() -> None:
    researcher = ScriptedModel(["facts about bees"])
    summariser = ScriptedModel(["bees: short"])
    research = Pipeline([Agent("researcher", researcher), Agent("summariser", summariser)], name="research")
    lead_model = ScriptedModel([call("research", task="find bee facts"), "Report: bees: short"])
    lead = Agent("lead", lead_model, tools=[research.as_tool("research", "Research a topic.")])
    run = RunLedger.create()
    # The lead runs inside a team, so the nested team joins the same run.
    result = await sequential_pipeline([lead], "write a report", context=run)
    assert result.output == "Report: bees: short"
    assert researcher.requests[0].messages[-1].content == "find bee facts"
    tool_message = lead_model.requests[1].messages[-1]
    assert (tool_message.role, tool_message.content) == ("tool", "bees: short")
    assert lead_model.requests[0].tools[0].name == "research"
    assert {k: v.calls for k, v in run.usage_by_agent.items()} == {"lead": 2, "researcher": 1, "summariser": 1}


async def test_team_as_agent_is_a_participant_of_another_team() -> None:
    inner = Pipeline([Agent("x", ScriptedModel(["x1"])), Agent("y", ScriptedModel(["y1"]))]).as_agent("duo")
    solo = ScriptedModel(["s1"])
    chat = GroupChat([inner, Agent("solo", solo)], max_turns=2)
    result = await chat.run("start", context=RunLedger.create())
    assert result.speakers == ["duo", "solo"]
    # The team's answer is one message authored by the team.
    assert [(m.role, m.name, m.content) for m in solo.requests[0].messages[1:]] == [
        ("user", "user", "start"),
        ("user", "duo", "y1"),
    ]
