"""`make serve`: both services on loopback, built from the current champions when needed.

python -m pipelines.serve                               # recsys :3000, planner :3001
python -m pipelines.serve serving.recsys_port=8000 serving.rebuild=true

Keys: ``RETAIL_BRAIN_API_KEYS`` (comma-separated) or ``RETAIL_BRAIN_API_KEYS_FILE``. If neither
is set, a random key is generated once into ``<bentoml_home>/api_key`` (mode 600, out of git) and
used; the key itself is never printed or logged — read it from that file. The Bentos are (re)built
first when none exist, when the registry's champions or the reorder plan changed since they were
built (labels ``mlflow_version``, ``source_fingerprint``), or with ``serving.rebuild=true``.
Ctrl-C stops both.
"""

from pipelines.entry import entry_point
from src.serve.launch import run_serve

run, main = entry_point("build_services", run_serve)  # the services' config is build_services'

if __name__ == "__main__":
    main()
