"""``python -m examples.reference_recipient``: see service.py and README.md."""

import sys

from examples.reference_recipient.service import main

sys.exit(main())
