"""Attribute and operation names from the OpenTelemetry GenAI semantic conventions.

Kept as constants so a typo is a NameError, not a silently wrong trace.
"""

from __future__ import annotations

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
CACHED_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
#: Seconds a model call waited for its backend (behind other calls) before it started.
QUEUE_WAIT_S = "agorakit.queue.wait_s"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
CONVERSATION_ID = "gen_ai.conversation.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"

# agorakit's own attributes, namespaced so they never clash with the standard.
COST_USD = "agorakit.usage.cost_usd"
ATTEMPT = "agorakit.attempt"
STOP_REASON = "agorakit.stop_reason"
STEP = "agorakit.step"
ERROR_MESSAGE = "agorakit.error.message"
TOOL_OUTCOME = "agorakit.tool.outcome"
#: A durable run's step served from its journal on resume (the model was not asked, the tool did not run).
REPLAYED = "agorakit.replayed"
#: The key a side-effecting tool call was given, the same on every resume of its run.
IDEMPOTENCY_KEY = "agorakit.tool.idempotency_key"

# Operation names (values of gen_ai.operation.name).
OP_CHAT = "chat"
OP_INVOKE_AGENT = "invoke_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_TURN = "agent_turn"
OP_RUN = "run"
