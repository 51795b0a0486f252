"""PyInstaller entry for the ``quicksilver-server`` executable (headless)."""

import sys

from server.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
