"""Validation against llama.cpp itself: synthetic-twin GGUF files (exact architecture, random
weights) quantized by llama.cpp's own quantizer, and the buffer sizes llama.cpp reports when it
loads them. Needs the ``validate`` extra (gguf, llama-cpp-python)."""
