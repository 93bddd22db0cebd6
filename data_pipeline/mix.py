"""Moved: learning mixture weights trains models, so it is `python -m pretrain.mixing` now.

Kept one release so an old command line gets a one-line answer instead of "No module named"; it imports
nothing from `pretrain` (data_pipeline never does).
"""

import sys

if __name__ == "__main__":
    print("error: `python -m data_pipeline.mix` moved — run `python -m pretrain.mixing "
          + " ".join(sys.argv[1:]) + "` (same arguments)", file=sys.stderr)
    sys.exit(2)
