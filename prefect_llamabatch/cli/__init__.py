"""The operator CLI (``llamabatch``) and the demo: the top layer, it may import every other.

``app`` is the cyclopts app, ``run`` and ``main`` (registration only); the commands live by what
they do: ``jobs`` (jobs, status, wait, cancel, items, results), ``submit``, ``batches`` (the v2
side of those), ``outputs``, ``files`` (upload, directories), ``local`` (emulator, demo). Shared
parts: ``connection`` (options, the client, which API an id is), ``console`` (printing, tables,
JSON), ``views`` (job and item tables), ``waiting`` (the v1 wait display), ``inert``,
``exit_codes``. ``demo`` is the ``make demo`` main job.
"""

from __future__ import annotations

from prefect_llamabatch.cli.app import app, main, run
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode, exit_code_for

__all__ = ["CliError", "ExitCode", "app", "exit_code_for", "main", "run"]
