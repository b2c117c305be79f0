"""API keys, organizations and projects: who is calling and which project a request acts on."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from prefect_llamabatch.emulator.settings import ApiKeySpec

__all__ = ["ApiError", "KeyRing", "Tenant"]


class ApiError(Exception):
    """An error answered as ``{"detail": …}`` with ``status``."""

    def __init__(self, status: int, detail: object, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.headers = headers


@dataclass(frozen=True)
class Tenant:
    """The caller's organization and the project this request acts on."""

    organization_id: str
    project_id: str


class KeyRing:
    """The configured keys, looked up by their secret value (never logged or echoed)."""

    def __init__(self, keys: list[ApiKeySpec]) -> None:
        self._keys = {k.key.get_secret_value(): k for k in keys}

    def tenant(self, request: Request) -> Tenant:
        """Authenticate the request and pick its project.

        Raises:
            ApiError: 401 without a known key; 403 for an organization or project the key may not
                use.
        """
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(401, "Missing API key: send the header 'Authorization: Bearer <key>'")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Malformed Authorization header: expected 'Bearer <key>'")
        spec = self._keys.get(token)
        if spec is None:
            raise ApiError(401, "Invalid API key")
        query = request.query_params
        organization_id = query.get("organization_id")
        if organization_id and organization_id != spec.organization_id:
            raise ApiError(403, f"This API key may not access organization {organization_id}")
        project_id = query.get("project_id")
        if project_id:
            if project_id not in spec.project_ids:
                raise ApiError(403, f"This API key may not access project {project_id}")
            return Tenant(spec.organization_id, project_id)
        return Tenant(spec.organization_id, spec.default_project_id)
