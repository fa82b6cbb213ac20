import sys

from asr_autoupdate.cli import main

sys.exit(main())
