"""A log reader process for the rotation test: tails until told to stop and caught up.

Usage: ``python tail_reader.py ROOT CHECKPOINT DONE_FILE``. It is killed with SIGKILL
in the middle and started again; the checkpoint is all that survives.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stackwatch.sources.logs import LogsSource


def main() -> None:
    root, checkpoint, done = (Path(arg) for arg in sys.argv[1:4])
    source = LogsSource("app", root, ["app-access.log"], checkpoint, host="test")
    idle = 0
    while True:
        before = source.total.line_total()
        source.collect()
        if source.total.line_total() != before:
            idle = 0
            continue
        if done.exists():
            idle += 1
            if idle >= 3:
                return
        time.sleep(0.005)


if __name__ == "__main__":
    main()
