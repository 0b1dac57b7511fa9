"""emergence: forecast when a capability emerges, by finetuning a ladder of small checkpoints."""

__version__ = "0.1.0"
