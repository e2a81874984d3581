"""Customer lifetime value (BG/NBD + Gamma-Gamma): holdout evaluation tracked, values written.

python -m pipelines.clv                                   # conf/clv (holdout: the last 182 days)
python -m pipelines.clv clv.calibration_end=2011-06-01 clv.model=pareto_nbd
"""

from pipelines.entry import entry_point
from src.marketing.pipeline import run_clv

run, main = entry_point("clv", run_clv)

if __name__ == "__main__":
    main()
