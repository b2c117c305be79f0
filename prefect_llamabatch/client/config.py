"""Where the API is and who calls it: hosts, paths, environment variables, key and base URL."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from pydantic import SecretStr

from prefect_llamabatch._version import __version__

NA_BASE_URL = "https://api.cloud.llamaindex.ai"
EU_BASE_URL = "https://api.cloud.eu.llamaindex.ai"
API_KEY_ENV_VARS = ("LLAMA_CLOUD_API_KEY", "LLAMA_PARSE_API_KEY")
BASE_URL_ENV_VAR = "LLAMA_CLOUD_BASE_URL"
USER_AGENT = f"prefect-llamabatch/{__version__}"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
BATCH_PATH = "/api/v1/beta/batch-processing"
DIRECTORIES_PATH = "/api/v1/beta/directories"
# A base URL path ending in the API's own prefix (``/api``, ``/api/v1``, ``/api/v1/beta/…``):
# the client adds that itself, so it would request ``/api/v1/api/v1/…`` and get a 404.
_API_SUFFIX = re.compile(
    r"/api(/v\d+)?(/beta)?(/(batch-processing|directories|batches)(/.*)?)?$", re.IGNORECASE
)


def resolve_api_key(api_key: str | SecretStr | None) -> SecretStr:
    """The API key given, else ``LLAMA_CLOUD_API_KEY``, else ``LLAMA_PARSE_API_KEY``."""
    if isinstance(api_key, SecretStr):
        value = api_key.get_secret_value()
    elif api_key is None:
        value = next((os.environ[v] for v in API_KEY_ENV_VARS if os.environ.get(v)), "")
        if not value:
            raise ValueError(
                "api_key: no LlamaCloud API key given; pass api_key=... or set the "
                "LLAMA_CLOUD_API_KEY environment variable"
            )
    elif isinstance(api_key, str):
        value = api_key
    else:
        raise TypeError(f"api_key must be a str or SecretStr, not {type(api_key).__name__}")
    value = value.strip()
    if not value:
        raise ValueError("api_key: the API key is empty; pass your LlamaCloud API key")
    if any(c in value for c in "\r\n") or not value.isascii():
        raise ValueError("api_key: the API key contains characters not allowed in a header")
    return SecretStr(value)


def check_base_url(value: str, *, field_name: str = "base_url") -> str:
    """Validate a base URL: https, or plain http only for loopback hosts (the emulator).

    A URL whose path ends in the API's own prefix (``https://host/api/v1``) is refused, not
    rewritten: the message says which URL to give instead, and a saved block or environment
    variable never silently means something other than what it says.

    Returns the URL without a trailing slash.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field_name}: must be a URL such as {NA_BASE_URL!r}")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{field_name}: {url!r} is not an http(s) URL; use e.g. {NA_BASE_URL!r} "
            f"or {EU_BASE_URL!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field_name}: must not contain credentials; pass api_key instead")
    if parts.query or parts.fragment:
        raise ValueError(f"{field_name}: must not contain a query string or fragment")
    api_suffix = _API_SUFFIX.search(parts.path)
    if api_suffix:
        without = url[: len(url) - len(parts.path)] + parts.path[: api_suffix.start()]
        raise ValueError(
            f"{field_name}: {url!r} ends in {api_suffix.group(0)!r}, which the client adds to "
            f"every request itself (it would call {api_suffix.group(0)}/api/v1/…); give the "
            f"host only: {without!r}"
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{field_name}: {url!r} uses plain http; use https (http is allowed only for "
            "loopback hosts 127.0.0.1, localhost and ::1, e.g. the local emulator)"
        )
    return url


def resolve_base_url(base_url: str | None) -> str:
    """The base URL given, else ``LLAMA_CLOUD_BASE_URL``, else the North America host."""
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV_VAR) or NA_BASE_URL
    return check_base_url(base_url)
