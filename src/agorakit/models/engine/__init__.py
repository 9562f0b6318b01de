"""The local serving engine: llama.cpp's ``llama-server``, built once from the sources
llama-cpp-python vendors, started and supervised by agorakit.

It lives with the llamacpp backend (DESIGN.md: the engine belongs to `models`; the kernel
schedules calls onto it). It decodes many agents' sequences together (continuous batching over parallel
slots) and keeps each slot's KV cache, so an agent's next call reuses its own
conversation's prefix. ``llamacpp:gemma-3-270m?engine=server`` selects it.
"""
