"""Secret-bearing job config fields: finding them, masking them, naming them for Prefect.

The wire models mask secrets in every display (see ``models``); this module serves the Prefect
layer's two extra needs: flow parameters that never hold a secret in clear, and the
``secret_fields`` of a block that stores a job config.
"""

from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, SecretStr

from prefect_llamabatch.models import MASK, BatchParseJobConfig, WebhookConfiguration

__all__ = ["SECRET_KEYS", "block_secret_paths", "find_secret_keys", "find_secrets", "masked"]


def _has_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr):
        return True
    return any(_has_secret(arg) for arg in get_args(annotation))


def _secret_keys(*models: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name
        for model in models
        for name, field in model.model_fields.items()
        if _has_secret(field.annotation)
    )


SECRET_KEYS = _secret_keys(BatchParseJobConfig, WebhookConfiguration)
"""Names of the secret-bearing job config fields (``azure_openai_key``, ``webhook_headers`` …)."""


def masked(value: Any) -> Any:
    """A JSON-able copy of a job config (model or dict) with every secret value masked.

    Example:
        ```python
        from prefect_llamabatch.orchestration.secrets import masked

        config = {"parameters": {"gpt4o_api_key": "sk-1", "fast_mode": True}}
        assert masked(config) == {"parameters": {"gpt4o_api_key": "**********", "fast_mode": True}}
        ```
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in SECRET_KEYS and item is not None:
                out[key] = {k: MASK for k in item} if isinstance(item, Mapping) else MASK
            else:
                out[key] = masked(item)
        return out
    if isinstance(value, (list, tuple)):
        return [masked(item) for item in value]
    return value


def find_secrets(
    value: Any, path: str = "job_config", *, where: Callable[[str], bool] | None = None
) -> list[str]:
    """Paths of every secret value set in a (nested) config model.

    ``where``, given a secret's clear value, keeps only the secrets it accepts (for example
    the ones holding the display mask: a config echoed by a server that masks secrets).

    Example:
        ```python
        from prefect_llamabatch.orchestration.secrets import find_secrets
        from prefect_llamabatch.models import MASK, BatchParseJobRecordCreate

        config = BatchParseJobRecordCreate(parameters={"azure_openai_key": "k", "fast_mode": True})
        assert find_secrets(config) == ["job_config.parameters.azure_openai_key"]
        assert find_secrets(config, where=lambda clear: MASK in clear) == []
        ```
    """
    found: list[str] = []
    if isinstance(value, SecretStr):
        if where is None or where(value.get_secret_value()):
            found.append(path)
    elif isinstance(value, BaseModel):
        for name in value.model_fields_set:
            found += find_secrets(getattr(value, name), f"{path}.{name}", where=where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found += find_secrets(item, f"{path}[{key!r}]", where=where)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += find_secrets(item, f"{path}[{i}]", where=where)
    return found


def find_secret_keys(value: Any, path: str) -> list[str]:
    """Paths of every secret-named key (:data:`SECRET_KEYS`) set in plain dicts and lists.

    The v2 ``parse_v2``/``extract_v2`` parameters are plain dicts whose models type the
    webhook secrets as ``str``: their keys, not their types, mark them.

    Example:
        ```python
        from prefect_llamabatch.orchestration.secrets import find_secret_keys

        hooks = {"webhook_configurations": [{"webhook_url": "https://x", "webhook_signing_secret": "s"}]}
        assert find_secret_keys(hooks, "parse_v2") == [
            "parse_v2.webhook_configurations[0].webhook_signing_secret"
        ]
        ```
    """
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in SECRET_KEYS and item is not None:
                found.append(f"{path}.{key}")
            else:
                found += find_secret_keys(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += find_secret_keys(item, f"{path}[{i}]")
    return found


def block_secret_paths(field: str) -> list[str]:
    """``secret_fields`` entries for a job config stored in a block field.

    Prefect obfuscates dotted paths of nested dicts; a list is a leaf, so the whole
    ``webhook_configurations`` list (headers, signing secrets) is one secret entry.
    """
    paths = [f"{field}.parameters.{name}" for name in sorted(_secret_keys(BatchParseJobConfig))]
    return [*paths, f"{field}.parameters.webhook_configurations"]
