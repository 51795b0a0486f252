"""PyInstaller entry for the ``quicksilver`` executable (the window)."""

import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
