#!/usr/bin/env python
"""Run the MMM parameter-recovery benchmark (see README.md and `--help`)."""

import sys

from mmm_param_recovery.cli import main

if __name__ == "__main__":
    sys.exit(main())
