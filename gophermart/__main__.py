import sys

from gophermart.server.cli import main

sys.exit(main())
