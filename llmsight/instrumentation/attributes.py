"""Attribute names written on spans, in one place so the contract in docs/attributes.md has one source."""

from __future__ import annotations

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
OUTPUT_TYPE = "gen_ai.output.type"
CONVERSATION_ID = "gen_ai.conversation.id"
EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"
ENCODING_FORMATS = "gen_ai.request.encoding_formats"
REQUEST_STREAM = "gen_ai.request.stream"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
OPENAI_SERVICE_TIER = "openai.response.service_tier"

DATA_SOURCE_ID = "gen_ai.data_source.id"
RETRIEVAL_QUERY = "gen_ai.retrieval.query.text"
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"

CONTEXT_DOCUMENTS = "llmsight.context.documents"
GROUND_TRUTH = "llmsight.ground_truth"
TAGS = "llmsight.tags"
USAGE_PARTIAL = "llmsight.usage.partial"
SESSION_ID = "session.id"
USER_ID = "user.id"

PROVIDER_OPENAI = "openai"
PROVIDER_AZURE = "azure.ai.openai"

# OpenAI request keyword -> semconv request attribute. Read straight from kwargs on the hot path.
REQUEST_PARAMS: tuple[tuple[str, str], ...] = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
    ("n", "gen_ai.request.choice.count"),
    ("service_tier", "openai.request.service_tier"),
    ("reasoning_effort", "openai.request.reasoning_effort"),
)
