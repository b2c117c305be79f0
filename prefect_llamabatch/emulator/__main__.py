"""``python -m prefect_llamabatch.emulator``: run the emulator in the foreground."""

from prefect_llamabatch.emulator.command import main

raise SystemExit(main())
