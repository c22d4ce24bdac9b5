"""The ``revsde`` command line (``main``) and the worked example it runs (``example``)."""

from .main import main

__all__ = ["main"]
