"""``python -m examples.reference_router``: see service.py and README.md."""

import sys

from examples.reference_router.service import main

sys.exit(main())
