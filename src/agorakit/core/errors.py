"""Typed errors. Each one says what went wrong and what to do next.

``str(error)`` is the one-line message; ``error.hint`` is the next step. The
kernel retries exactly the subclasses of :class:`TransientModelError`.
"""

from __future__ import annotations


class AgorakitError(Exception):
    """Base of every error agorakit raises on purpose."""

    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        #: The traced run the error ended, when there was one (set by the agent).
        self.run_id: str | None = None

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AgorakitError):
    """A setting, argument or file that cannot be used as given."""


# --- models -------------------------------------------------------------


class ModelError(AgorakitError):
    """A model call failed."""


class InvalidModelURI(ModelError, ValueError):
    default_hint = (
        "use SCHEME:MODEL, e.g. llamacpp:gemma-3-270m, openai:gpt-4o-mini, "
        "openai:qwen2.5-7b@http://localhost:8000/v1 or scripted:path/to/script.yaml"
    )


class UnknownModel(ModelError):
    default_hint = "run `agora models` to list the models agorakit knows"


class MissingAPIKey(ModelError):
    default_hint = "export OPENAI_API_KEY=... (or point the URI at a local server with @http://host:port/v1)"


class ContextWindowExceeded(ModelError):
    default_hint = "shorten the prompt or the conversation, or use a model with a larger context window"


class ModelRequestError(ModelError):
    """The backend rejected the request itself (HTTP 4xx other than 429)."""

    default_hint = "check the model name and the request; this error is not retried"


class ModelResponseError(ModelError):
    """The backend answered with something that is not a usable completion."""

    default_hint = "the response was malformed; retry, or check the server's logs"


class ScriptExhausted(ModelError):
    default_hint = "add more responses to the script, or check why the agent made more calls than expected"


class TransientModelError(ModelError):
    """A failure that may pass: the kernel retries these with backoff."""

    retry_after: float | None = None


class RateLimited(TransientModelError):
    default_hint = "the endpoint is rate limiting; lower concurrency or wait"

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ModelServerError(TransientModelError):
    default_hint = "the model server failed; check its logs"

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ModelTimeout(TransientModelError):
    default_hint = "the model did not answer in time; raise the timeout or use a faster model"


class ModelConnectionError(TransientModelError):
    default_hint = "is the server running, and is the base URL (with its /v1) right?"


class StreamInterrupted(TransientModelError):
    default_hint = "the stream ended before the completion was finished; check the server"


# --- kernel -------------------------------------------------------------


class BudgetExceeded(AgorakitError):
    """A run hit one of its limits (calls, tokens or cost) and was ended."""

    default_hint = "raise the run budget, or give the agent a smaller task"

    def __init__(self, message: str, *, limit: str, used: float, allowed: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.used = used
        self.allowed = allowed


# --- tools --------------------------------------------------------------


class ToolError(AgorakitError):
    """A tool call failed. The dispatcher turns these into observations."""


class ToolNotFound(ToolError):
    pass


class ToolArgumentsError(ToolError):
    pass


class ToolTimeout(ToolError):
    pass


class ToolExecutionError(ToolError):
    pass


class ToolDefinitionError(ToolError, TypeError):
    """A function cannot be turned into a tool (raised when decorating)."""


# --- agents -------------------------------------------------------------


class OutputInvalid(AgorakitError):
    """An agent's answer did not validate as its ``output_type`` after every retry."""

    default_hint = "use a stronger model, simplify the output type, or raise output_retries"


class StrategyError(AgorakitError):
    """An agent strategy raised: the run ended (its trace is complete up to the failure)."""

    default_hint = "fix the strategy; the exception it raised is this error's __cause__"


# --- durable runs ---------------------------------------------------------


class ResumeError(AgorakitError):
    """A journaled run cannot be resumed as asked (not journaled, other code or model, newer journal)."""


class RunInUse(ResumeError):
    """Another live process is running (or resuming) the same run."""


class NeedsConfirmation(AgorakitError):
    """A side-effecting tool call started before the run was killed and has no recorded result.

    It may or may not have taken effect, and its tool is neither idempotent nor
    takes an idempotency key, so it is not run again without the user's word.
    """

    def __init__(self, message: str, *, call_id: str, tool: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.call_id = call_id
        self.tool = tool


class AwaitingApproval(AgorakitError):
    """A durable run reached a tool call its policy sends to a human (``ask``) with no approver in
    this process: the run paused, the call is recorded, and another process decides on it."""

    def __init__(self, message: str, *, call_id: str, tool: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.call_id = call_id
        self.tool = tool
