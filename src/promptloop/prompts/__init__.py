"""The versioned prompt registry: versions by content hash, changelog, labels, deployments."""

from promptloop.prompts.registry import PromptRegistry, Registered

__all__ = ["PromptRegistry", "Registered"]
