"""The Prefect layer: tasks, waiting, reporting, events, stop tracking, results, the job block.

Deliberately empty (no re-exports), so importing one module of the layer loads only that module;
the package exists so the import-linter layers contract can name it (``pyproject.toml``).
"""
