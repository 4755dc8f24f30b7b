"""gitmine: history-aware layering for Nix-built container images."""

__version__ = "0.1.0"
