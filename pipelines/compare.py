"""Compare runs in MLflow: leaderboard in the terminal, self-contained HTML report with plots.

python -m pipelines.compare task=forecast
python -m pipelines.compare task=recsys 'compare.models=[hybrid,buy_again]' compare.since=2026-11-01
python -m pipelines.compare task=policy "compare.baseline='rule_of_thumb[days=45]'"
python -m pipelines.compare task=forecast 'compare.run_ids=[<id>,<id>]' compare.level=0.01
python -m pipelines.compare task=forecast 'compare.series=[85123A,22423]'   # plot these series
"""

from pipelines.entry import entry_point
from src.review.compare import run_compare

run, main = entry_point("compare", run_compare)

if __name__ == "__main__":
    main()
