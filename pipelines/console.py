"""The web console: KPIs, alerts, planning, customers and models (src/console).

python -m pipelines.console                                   # :8050
RETAIL_BRAIN_CONSOLE_USERS_FILE=console_users.txt python -m pipelines.console console.port=8060
Add a user: python -m src.console.auth add ann planner --file console_users.txt

Without configured users, the first start creates an ``admin`` with a random password in
``console.bootstrap_dir`` (``.console/``, mode 600, out of git) and logs where it is — never the
password itself — the way ``make serve`` generates its API key.
"""

from pipelines.entry import entry_point
from src.console.launch import run_console

run, main = entry_point("console", run_console)

if __name__ == "__main__":
    main()
