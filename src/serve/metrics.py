"""Prometheus labels by route, not by whatever path a caller typed.

BentoML's request metrics middleware (``RunnerTrafficMetricsMiddleware``, bentoml 1.4.39) labels
every series with the raw request path, refused requests included: 3,000 GETs to random paths
without a key grew ``/metrics`` from 155 KB to 14 MB and the multiprocess metrics folder by 35 MB
(issue 17). :func:`label_by_route` makes it see one of the service's own routes, or ``/{other}``
for anything else, while the application below still routes the real path (the real path rides
in the ASGI scope past the metrics middleware and is put back before routing). Installed at
import of each service module; pinned BentoML version, checked by the serving tests.
"""

from __future__ import annotations

from src.serve.auth import OPEN_PATHS, OPEN_PREFIXES

OTHER = "/{other}"
_REAL_PATH = "retail_brain.real_path"
_routes: set[str] = set()


def route_label(path: str, routes=None) -> str:
    """The label a request to ``path`` is counted under."""
    known = _routes if routes is None else routes
    if path in known or path in OPEN_PATHS:
        return path
    for prefix in OPEN_PREFIXES:
        if path.startswith(prefix):
            return prefix + "*"
    return OTHER


def _restoring(app):
    async def restore(scope, receive, send):
        if _REAL_PATH in scope:
            scope = dict(scope)
            scope["path"] = scope.pop(_REAL_PATH)
        await app(scope, receive, send)

    restore._retail_brain_restore = True
    return restore


def label_by_route(service) -> None:
    """Count ``service``'s requests under its route templates (idempotent, per process)."""
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware as M

    _routes.update(api.route for api in service.apis.values())
    if getattr(M, "_retail_brain_labels", False):
        return
    original = M.__call__

    async def __call__(self, scope, receive, send):
        if not getattr(self.app, "_retail_brain_restore", False):
            self.app = _restoring(self.app)
        if scope.get("type", "").startswith("http"):
            path = scope.get("path", "")
            label = route_label(path)
            if label != path:
                scope = {**scope, "path": label, _REAL_PATH: path}
        await original(self, scope, receive, send)

    M.__call__ = __call__
    M._retail_brain_labels = True
