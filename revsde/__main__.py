"""``python -m revsde``: the same command line as ``revsde`` (see ``revsde.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
