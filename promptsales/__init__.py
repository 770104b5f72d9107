"""PromptSales platform: shared plumbing (configuration, logging, CLI) for every component."""

__version__ = "0.1.0"
