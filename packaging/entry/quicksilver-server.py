"""PyInstaller entry for the ``quicksilver-server`` executable (headless)."""

import multiprocessing
import sys

from server.__main__ import main

if __name__ == "__main__":
    # the DKIM worker process (server/antispam/dkimwork.py) is this same
    # executable started again: let it run its task instead of the program
    multiprocessing.freeze_support()
    sys.exit(main())
