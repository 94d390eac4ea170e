"""edge-model-advisor: which small LLM and quantization runs how well on which device."""

__version__ = "0.1.0"
