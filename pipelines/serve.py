"""`make serve`: both services on loopback, built from the current champions when needed.

python -m pipelines.serve                               # recsys :3000, planner :3001
python -m pipelines.serve serving.recsys_port=8000 serving.rebuild=true

API keys, when the Bentos are rebuilt and how both stop: ``src/serve/launch.py``.
"""

from pipelines.entry import entry_point
from src.serve.launch import run_serve

run, main = entry_point("build_services", run_serve)  # the services' config is build_services'

if __name__ == "__main__":
    main()
