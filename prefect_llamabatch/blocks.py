"""The package's Prefect block types, in one place for Prefect to find.

The ``prefect.collections`` entry point names this module: Prefect imports every installed collection
when it looks up a block type or starts a worker, so importing this module must define both blocks,
while ``import prefect_llamabatch`` itself stays lazy. It sits at the top of the layers (it imports
the job block, which runs tasks) and holds nothing else.

Example:
    ```python
    from prefect_llamabatch.blocks import LlamaBatchJob, LlamaCloudCredentials

    assert LlamaCloudCredentials.get_block_type_slug() == "llamacloud-credentials"
    assert LlamaBatchJob.get_block_type_slug() == "llamacloud-batch-job"
    ```
"""

from __future__ import annotations

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.orchestration.jobs import LlamaBatchJob

__all__ = ["LlamaBatchJob", "LlamaCloudCredentials"]
