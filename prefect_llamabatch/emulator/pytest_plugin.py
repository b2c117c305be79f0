"""pytest fixtures for running tests against a local LlamaCloud emulator."""
