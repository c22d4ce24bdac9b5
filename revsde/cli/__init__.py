"""The ``revsde`` command line (``main``) and the worked example it runs (``example``)."""

from .commands import main

__all__ = ["main"]
