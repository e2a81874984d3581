"""The trivial peer for `make bench-serving`: a BentoML service that echoes its input.

Same server, same middlewares (bearer auth, JSON guard) as the real services, no model — so the
ratio to it measures what our request handling costs on top of BentoML itself.
"""

from __future__ import annotations

from typing import Annotated

import bentoml
from pydantic import Field

from src.serve import WORKERS
from src.serve.auth import BearerAuth, JsonBodies


@bentoml.service(name="retail-brain-echo", workers=WORKERS)
class Echo:
    @bentoml.api(route="/echo")
    def echo(self, customer_id: Annotated[str, Field(max_length=200)] = "", k: int = 10) -> dict:
        return {"customer_id": customer_id, "k": k}


Echo.add_asgi_middleware(JsonBodies)
Echo.add_asgi_middleware(BearerAuth)
