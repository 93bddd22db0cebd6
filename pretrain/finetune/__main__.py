"""`python -m pretrain.finetune ...`: the command line lives in pretrain/finetune/cli.py."""

import sys

from pretrain.finetune.cli import main

sys.exit(main())
