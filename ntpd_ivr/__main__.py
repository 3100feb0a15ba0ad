import sys

from ntpd_ivr.cli import main

sys.exit(main())
