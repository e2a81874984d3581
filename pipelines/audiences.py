"""Audiences that trigger: win-back, VIP, at-risk, new-customer nurture (conf/audiences).

python -m pipelines.audiences                         # after make run (uses CLV, stages, recs)
python -m pipelines.audiences audiences.opt_out_file=optouts.csv audiences.holdout_share=0.2
"""

from pipelines.entry import entry_point
from src.marketing.pipeline import run_audiences

run, main = entry_point("audiences", run_audiences)

if __name__ == "__main__":
    main()
