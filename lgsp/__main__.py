"""``python -m lgsp`` = the ``lgsp`` command."""

from lgsp.cli import main

main()
