"""`python -m tests.chaos --duration SECONDS --seed N [--appendfsync always|everysec]`."""

import sys

from tests.chaos.driver import main

sys.exit(main())
