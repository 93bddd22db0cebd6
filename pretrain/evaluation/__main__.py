"""`python -m pretrain.evaluation ...`: the command line lives in pretrain/evaluation/cli.py."""

import sys

from pretrain.evaluation.cli import main

sys.exit(main())
