"""Inference: conversations (text and audio parts) in, answers out, decoded in batches.

`chat.SpeechChat` is the one path from a conversation to an answer; `voxlm chat`, `voxlm serve`,
`voxlm eval`, `voxlm imitate` and the bench scripts all use it (or its `decoding.Decoder`), so the
HTTP server is only a front end and evaluation does not depend on it.
"""

from .chat import DEFAULT_BATCH_SIZE, PromptTooLong, Reply, SpeechChat, audio_question
from .decoding import Decoder, Sampling

__all__ = ["DEFAULT_BATCH_SIZE", "Decoder", "PromptTooLong", "Reply", "Sampling", "SpeechChat", "audio_question"]
