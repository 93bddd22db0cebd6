"""`python -m pretrain.mixing learn=doremi ...`: the command line lives in pretrain/mixing/cli.py."""

import sys

from pretrain.mixing.cli import main

sys.exit(main())
