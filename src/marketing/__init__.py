"""Marketing: lifecycle (AIPL), CLV, audiences, campaign measurement and uplift."""

import logging

# causalml tries an optional citation hook (duecredit) on import and logs an ERROR when it is
# absent; it is not an error for us
logging.getLogger("duecredit").setLevel(logging.CRITICAL)
