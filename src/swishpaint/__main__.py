"""`python -m swishpaint ...` (used by torchrun: torchrun --nproc_per_node=N -m swishpaint train ...)."""

import sys

from .cli import main

sys.exit(main())
