"""PyInstaller entry for the ``quicksilver`` executable (the window)."""

import multiprocessing
import sys

from app.__main__ import main

if __name__ == "__main__":
    # the DKIM worker process (server/antispam/dkimwork.py) is this same
    # executable started again: let it run its task instead of the program
    multiprocessing.freeze_support()
    sys.exit(main())
