"""What the BentoML services in ``serving/`` run: bundles, request handling, auth, packaging.

The services themselves (``serving/recsys_service.py``, ``serving/planner_service.py``) are thin:
they load a bundle once at start-up and hand every request to it. Everything here is plain
Python and tested without a server; the HTTP tests start real ``bentoml serve`` processes.
"""

import os

# worker processes per service (`bentoml serve`); one fits 2 cores with a client beside it
WORKERS = int(os.environ.get("RETAIL_BRAIN_WORKERS", "1"))
