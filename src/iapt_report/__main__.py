"""``python -m iapt_report``: the same as the ``iapt-report`` command."""

from iapt_report.cli import main

raise SystemExit(main())
