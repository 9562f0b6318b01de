"""AgentDojo's suite functions as agorakit tools.

An AgentDojo function takes its arguments plus "dependencies" that AgentDojo
injects from the task environment (``Depends("inbox")`` and the like). Here
each function becomes a :class:`~agorakit.tools.Tool` built with
:meth:`Tool.from_schema` from the function's name, description and the JSON
schema of its input model (the model-visible arguments only). Its
implementation does what AgentDojo's ``FunctionsRuntime`` does: coerce the
arguments through the input model, read the dependencies from a
:class:`LiveEnvironment` and run the function. So a call made through a
:class:`~agorakit.tools.ToolDispatcher` is validated, checked by the policy,
and then mutates the very environment object AgentDojo's judges look at
afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agorakit.tools import Tool

if TYPE_CHECKING:
    from agentdojo.functions_runtime import Function, TaskEnvironment


class LiveEnvironment:
    """The environment the tools act on; swap :attr:`current` between tasks.

    Tools are built once per suite and bound to this holder, so replaying a
    task on a fresh environment only means assigning a new one here.
    """

    __slots__ = ("_current",)

    def __init__(self, environment: TaskEnvironment | None = None) -> None:
        self._current = environment

    @property
    def current(self) -> TaskEnvironment:
        if self._current is None:
            raise RuntimeError("no AgentDojo environment is bound: set LiveEnvironment.current first")
        return self._current

    @current.setter
    def current(self, environment: TaskEnvironment) -> None:
        self._current = environment


def function_schema(function: Function) -> dict[str, Any]:
    """The JSON schema of ``function``'s model-visible arguments, as AgentDojo builds it."""
    schema: dict[str, Any] = function.parameters.model_json_schema()
    schema.pop("title", None)  # "Input schema for `name`": tokens a model does not need
    schema.setdefault("properties", {})
    # Closed, unlike AgentDojo's (which drops unknown arguments silently): a misspelt argument
    # is an error the model can read, and a policy naming an argument the tool lacks fails to load.
    schema["additionalProperties"] = False
    return schema


def function_tool(function: Function, environment: LiveEnvironment) -> Tool[..., Any]:
    """One AgentDojo :class:`~agentdojo.functions_runtime.Function` as an agorakit tool.

    The tool returns what an AgentDojo agent would read: the function's result
    formatted by AgentDojo's own tool-output formatter (YAML for models and
    lists), so observations match the benchmark's.
    """
    from agentdojo.agent_pipeline.tool_execution import tool_result_to_str

    run = function.run
    input_model = function.parameters
    dependencies = dict(function.dependencies)

    async def call(arguments: dict[str, Any]) -> Any:
        env = environment.current
        # What FunctionsRuntime.run_function does: coerce and fill defaults, inject, run.
        values = input_model.model_validate(arguments).model_dump()
        injected = {name: dependency.extract_dep_from_env(env) for name, dependency in dependencies.items()}
        result = run(**values, **injected)
        try:
            return tool_result_to_str(result)
        except TypeError:  # a shape the formatter does not know: let the dispatcher serialize it
            return result

    return Tool.from_schema(function.name, function.description, function_schema(function), call)


def suite_tools(functions: list[Function], environment: LiveEnvironment) -> list[Tool[..., Any]]:
    """All of a suite's functions (``TaskSuite.tools``) as tools bound to ``environment``."""
    return [function_tool(function, environment) for function in functions]
