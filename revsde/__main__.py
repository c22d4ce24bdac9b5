"""``python -m revsde``: the same command line as ``revsde`` (see ``revsde.cli``)."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
