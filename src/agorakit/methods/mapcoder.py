"""MapCoder (Islam et al., "MapCoder: Multi-Agent Code Generation for Competitive
Problem Solving", ACL 2024; official code: github.com/Md-Ashraful-Pramanik/MapCoder).

Four agents replay a programmer's cycle:

1. **Retrieval** (``retriever``, one call): from its own knowledge the model
   recalls ``k`` relevant, distinct problems, each with a description, code and
   a plan, and names the algorithm the task needs with a short tutorial.
2. **Planning** (two calls per recalled problem): ``planner`` writes a plan for
   the task from one exemplar's description and plan (not its code), the
   algorithm tutorial and the sample tests; ``planner_confidence`` is shown only
   the task and that plan and scores, 0-100, how likely the plan solves it
   (structured output). Plans are tried in order of confidence, highest first
   (a stable sort: ties keep the order of recall).
3. **Coding** (``coder``, one call per plan tried): code from the algorithm,
   the task, the plan and the sample tests.
4. **Debugging** (``debugger``): the code runs against the task's sample tests
   in the sandbox; while a test fails, the debugger is shown the algorithm, the
   task, its previous plan and code and the test report (each failing test with
   the output and traceback the sandbox gave), and returns a modified plan and
   code, up to ``t`` rounds. When the code still fails, the next plan is tried
   from step 3. The first code that passes is the answer; when none does, the
   last code written.

Calls: ``1 + 2k`` before coding; then ``1 + d`` for a plan whose code passes
after ``d`` debugging rounds, and ``1 + t`` for a plan that never passes.

Sample tests come from the task text: doctest examples (``>>> f(1)`` followed
by the expected output, run with :mod:`doctest`) and ``assert`` lines. A task
without any is coded from the best plan without testing (the official code's
``evaluate_io`` passes an empty test list).

Where agorakit deliberately differs from the official implementation:

- The code written in the last debugging round is tested too (the paper's
  Algorithm 1); the official loop ends right after the ``t``-th repair without
  running it, so it moves to the next plan even when that repair passed.
- The test report carries what the sandbox printed (the doctest report, the
  traceback) for each failing test, not only "failed in test case: ...": the
  agorakit sandbox gives it, and the paper's debugging agent is meant to use
  the test log.
- Recall and confidence are structured outputs (JSON, validated, retried)
  rather than XML parsed without recovery; their schemas bound each text's
  length (not validated: it keeps a small model's grammar-constrained reply
  from running out of tokens); a confidence outside 0-100 is clamped rather
  than rejected. The recall is cut to its first ``k``
  problems; fewer are used as given, as in the official code.
- Each test runs the code in a fresh namespace (``__name__`` is
  ``"solution"``, so a ``__main__`` block does not run) in the isolated
  sandbox, with ``from typing import *`` available as the official harness
  provides; the official harness runs ``exec`` in its own process.
"""

from __future__ import annotations

import dataclasses
import doctest
import re
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, create_model

from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.tools.sandbox import Sandbox, SandboxLimits


@dataclass(frozen=True)
class MapCoderConfig:
    """Defaults from the official implementation (``MapCoder(k=3, t=5)``, temperature 0)."""

    k: int = 3
    """Relevant problems the retrieval agent recalls (one plan each)."""
    t: int = 5
    """Debugging rounds per plan before falling back to the next plan."""
    test_timeout_s: float = 5.0
    """Wall time for one sample test (the official harness allows 5 s)."""
    recall_max_tokens: int = 3072
    """Output tokens for the recall (k problems with code need more than a short reply)."""
    language: str = "Python"


# maxLength/maxItems only shape the JSON schema the model is given (on llama.cpp they
# bound the grammar, so a small model's recall closes before max_tokens); they are not
# validated, so a longer reply from a model that ignores them is still accepted.
def _at_most(characters: int) -> dict[str, Any]:
    return {"maxLength": characters}


class Exemplar(BaseModel):
    description: str = Field(description="the recalled problem", json_schema_extra=_at_most(400))
    code: str = Field(description="code that solves it, written step by step", json_schema_extra=_at_most(1000))
    planning: str = Field(description="the plan that solves it", json_schema_extra=_at_most(600))


class Recall(BaseModel):
    problems: list[Exemplar] = Field(min_length=1, description="relevant, distinct problems")
    algorithm: str = Field(
        description="the algorithm the original problem needs, and a short generic tutorial",
        json_schema_extra=_at_most(800),
    )


def recall_schema(k: int) -> type[Recall]:
    """:class:`Recall` whose schema asks for at most ``k`` problems."""
    field = Field(min_length=1, description="relevant, distinct problems", json_schema_extra={"maxItems": k})
    made: type[Recall] = create_model("Recall", __base__=Recall, problems=(list[Exemplar], field))
    return made


class PlanConfidence(BaseModel):
    explanation: str = Field(
        description="whether the plan solves the problem, and why", json_schema_extra=_at_most(500)
    )
    confidence: int = Field(description="confidence that the plan solves the problem, an integer from 0 to 100")


@dataclass(frozen=True)
class SampleTest:
    """One sample test: ``shown`` to the agents, ``code`` run after the solution."""

    shown: str
    code: str


@dataclass(frozen=True)
class TestReport:
    passed: bool
    text: str


# --- sample tests -------------------------------------------------------------

_DOCSTRING_END = re.compile(r"^\s*[rRuUbB]?('''|\"\"\")\s*$")
_ASSERT = re.compile(r"^\s*(assert\s.+?)\s*$")


def extract_sample_tests(task: str) -> list[SampleTest]:
    """The doctest examples and ``assert`` lines in ``task``, in order of appearance."""
    # A docstring's closing quotes would otherwise be read as an example's expected output.
    lines = ["" if _DOCSTRING_END.match(line) else line for line in task.splitlines()]
    text = "\n".join(lines)
    found: list[tuple[int, SampleTest]] = []
    try:
        examples = doctest.DocTestParser().get_examples(text)
    except ValueError:  # inconsistent indentation: no doctest examples
        examples = []
    example_lines: set[int] = set()
    for example in examples:
        source_lines = example.source.rstrip("\n").split("\n")
        shown = "\n".join(
            [(">>> " if i == 0 else "... ") + line for i, line in enumerate(source_lines)]
            + example.want.rstrip("\n").split("\n")
        ).rstrip()
        found.append((example.lineno, SampleTest(shown, _doctest_code(example.source, example.want))))
        example_lines.update(range(example.lineno, example.lineno + len(source_lines)))
    for number, line in enumerate(lines):
        match = _ASSERT.match(line)
        if match and number not in example_lines and not line.lstrip().startswith(">>>"):
            found.append((number, SampleTest(match.group(1), match.group(1))))
    return [test for _, test in sorted(found, key=lambda item: item[0])]


def _doctest_code(source: str, want: str) -> str:
    return (
        "import doctest as _doctest\n"
        f"_example = _doctest.Example({source!r}, {want!r})\n"
        "_test = _doctest.DocTest([_example], globals(), 'sample test', None, 0, None)\n"
        "_runner = _doctest.DocTestRunner(verbose=False, optionflags=_doctest.NORMALIZE_WHITESPACE)\n"
        "_runner.run(_test, clear_globs=False)\n"
        "if _runner.failures:\n"
        "    raise SystemExit(1)  # the runner has printed the report\n"
    )


def _harness(code: str, test: SampleTest) -> str:
    """Sandbox code: the solution in a fresh namespace, then the test in it."""
    return (
        "import linecache as _linecache\n"
        f"_solution = {code!r}\n"
        f"_sample_test = {test.code!r}\n"
        "for _name, _text in (('solution.py', _solution), ('sample_test.py', _sample_test)):\n"
        "    _linecache.cache[_name] = (len(_text), None, _text.splitlines(True), _name)\n"
        "_namespace = {'__name__': 'solution'}\n"
        "exec('from typing import *', _namespace)\n"
        "exec(compile(_solution, 'solution.py', 'exec'), _namespace)\n"
        "exec(compile(_sample_test, 'sample_test.py', 'exec'), _namespace)\n"
    )


# --- code in replies ----------------------------------------------------------

_FENCE = re.compile(r"```([A-Za-z0-9_+#-]*)[ \t]*\n(.*?)```", re.DOTALL)
_OPEN_FENCE = re.compile(r"```([A-Za-z0-9_+#-]*)[ \t]*\n")


def extract_code(text: str) -> str:
    """The code in a reply: the last fenced block (a Python-labelled one preferred),
    an unterminated block's rest, or the whole reply."""
    blocks: list[tuple[str, str]] = _FENCE.findall(text)
    if blocks:
        python = [body for label, body in blocks if label.lower() in ("python", "python3", "py")]
        return (python or [body for _, body in blocks])[-1].strip("\n")
    opened = list(_OPEN_FENCE.finditer(text))
    if opened:
        return text[opened[-1].end() :].strip("\n")
    return text.strip()


# --- the method ---------------------------------------------------------------


class MapCoder(Method):
    name = "mapcoder"
    summary = "Retrieval, planning, coding and debugging agents; code is tested on the task's sample tests."
    paper = "Islam et al., MapCoder: Multi-Agent Code Generation for Competitive Problem Solving, ACL 2024"
    Config = MapCoderConfig

    config: MapCoderConfig

    def extract(self, answer: str) -> str | None:
        code = extract_code(answer)
        return code or None

    async def solve(self, task: str, session: Session) -> str:
        cfg = self.config
        tests = extract_sample_tests(task)
        tests_text = "\n".join(test.shown for test in tests) if tests else "(none given)"

        recall = await session.structured(
            "retriever",
            [Message("user", self._recall_prompt(task))],
            recall_schema(cfg.k),
            sampling=dataclasses.replace(session.sampling, max_tokens=cfg.recall_max_tokens),
        )
        exemplars = recall.problems[: cfg.k]
        algorithm = recall.algorithm.strip()

        plans: list[tuple[str, int]] = []
        for exemplar in exemplars:
            plan = await session.chat(
                "planner", [Message("user", self._plan_prompt(task, exemplar, algorithm, tests_text))]
            )
            verdict = await session.structured(
                "planner_confidence", [Message("user", self._confidence_prompt(task, plan))], PlanConfidence
            )
            plans.append((plan, max(0, min(100, verdict.confidence))))
        plans.sort(key=lambda item: item[1], reverse=True)

        code = ""
        async with AsyncExitStack() as stack:
            sandbox: Sandbox | None = None
            if tests:
                limits = SandboxLimits(wall_time_s=cfg.test_timeout_s)
                sandbox = await stack.enter_async_context(Sandbox(limits=limits))
            for plan, _confidence in plans:
                reply = await session.chat(
                    "coder", [Message("user", self._code_prompt(task, plan, algorithm, tests_text))]
                )
                code = extract_code(reply)
                if sandbox is None:
                    break  # nothing to test against: the best plan's code is the answer
                previous = f"## Plan\n{plan}\n\n## Code\n```python\n{code}\n```"
                report = await self._test(sandbox, code, tests, session)
                rounds = 0
                while not report.passed and rounds < cfg.t:
                    rounds += 1
                    previous = await session.chat(
                        "debugger", [Message("user", self._debug_prompt(task, algorithm, previous, report.text))]
                    )
                    code = extract_code(previous)
                    report = await self._test(sandbox, code, tests, session)
                if report.passed:
                    break
        return f"```python\n{code}\n```"

    async def _test(self, sandbox: Sandbox, code: str, tests: list[SampleTest], session: Session) -> TestReport:
        lines: list[str] = []
        passed = True
        for test in tests:
            result = await sandbox.exec(_harness(code, test), timeout=self.config.test_timeout_s)
            if result.ok:
                lines.append(f"passed: {test.shown}")
            else:
                passed = False
                lines.append(f"failed: {test.shown}\n{result.observation()}")
        report = TestReport(passed, "\n".join(lines))
        session.note(Message("tool", report.text, name="sandbox"))
        return report

    # Prompts: our words, carrying the instructions of the paper's prompts.

    def _recall_prompt(self, task: str) -> str:
        k, language = self.config.k, self.config.language
        return (
            f"Here is a programming problem.\n\n# Problem\n{task}\n\n"
            f"From what you know, recall {k} relevant programming problems that are distinct from this one. "
            f"For each, describe the problem, write {language} code that solves it, working step by step, "
            "and give the plan that solves it.\n"
            "Then identify the algorithm the original problem calls for (brute force, dynamic programming, "
            "divide and conquer, greedy, backtracking, recursion, binary search, ...) and write a short, "
            "general tutorial on solving problems of this kind with it, without code.\n\n"
            'Reply with a JSON object: {"problems": [{"description": "...", "code": "...", "planning": "..."}, ...], '
            '"algorithm": "..."}.'
        )

    def _plan_prompt(self, task: str, exemplar: Exemplar, algorithm: str, tests: str) -> str:
        return (
            "Write a concrete plan for solving a programming problem, using a solved example as a guide.\n\n"
            f"# Example problem\n{exemplar.description}\n\n# Its plan\n{exemplar.planning}\n\n"
            f"# Algorithm to use\n{algorithm}\n\n"
            f"# Problem to solve\n{task}\n\n# Sample tests\n{tests}\n\n"
            "Give only the step-by-step plan for the problem to solve, with no other explanation."
        )

    def _confidence_prompt(self, task: str, plan: str) -> str:
        return (
            f"Here are a programming problem and a plan for solving it in {self.config.language}. "
            "Judge whether the plan is correct for this problem.\n\n"
            f"# Problem\n{task}\n\n# Plan\n{plan}\n\n"
            'Reply with a JSON object: {"explanation": "<whether the plan solves the problem, and why>", '
            '"confidence": <an integer from 0 to 100: how sure you are that the plan solves it>}.'
        )

    def _code_prompt(self, task: str, plan: str, algorithm: str, tests: str) -> str:
        language = self.config.language
        return (
            f"Write {language} code that solves a programming problem, following the plan.\n\n"
            f"# Algorithm to use\n{algorithm}\n\n# Problem to solve\n{task}\n\n# Plan\n{plan}\n\n"
            f"# Sample tests\n{tests}\n\n"
            f"Think it through step by step, then reply with only the {language} code, complete and "
            f"runnable, in one ```{language.lower()} block, with no explanation."
        )

    def _debug_prompt(self, task: str, algorithm: str, previous: str, report: str) -> str:
        language = self.config.language
        return (
            f"You wrote {language} code for a programming problem, but it does not pass the sample tests. "
            "Fix it so that it solves the problem correctly.\n\n"
            f"# Algorithm to use\n{algorithm}\n\n# Problem to solve\n{task}\n\n"
            f"# Your plan and code\n{previous}\n\n# Test report\n{report}\n\n"
            "First write the modified plan, reasoning step by step about what went wrong, then the complete "
            f"corrected code in one ```{language.lower()} block."
        )
