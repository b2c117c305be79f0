"""Run LlamaCloud batch document jobs as reliable Prefect pipeline steps."""

from prefect_llamabatch._version import __version__

__all__ = ["__version__"]
