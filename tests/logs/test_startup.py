"""The kernels load without SciPy: numba's array functions ask for SciPy's BLAS, which
no kernel uses, and importing it cost about 0.25 CPU-s of every command's start-up."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``code`` run in a fresh interpreter (a command's start-up, as a user gets it)."""
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                          text=True, check=True, timeout=600)


def test_kernels_load_without_scipy_blas() -> None:
    code = (
        "import sys\n"
        "from stackwatch.sources.logs.compiled import warm_up\n"
        "warm_up()\n"
        "from stackwatch.logparse import oslo_kernel  # noqa: F401\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy.linalg')))\n"
    )
    assert _python(code).stdout.strip() == "[]"


def test_a_kernel_still_runs_and_blas_is_usable_after() -> None:
    """Marking BLAS missing is scoped to numba's first load: SciPy imports after it."""
    code = (
        "import numpy as np\n"
        "from stackwatch.logparse import backfill_kernel as k\n"
        "k.check(np.frombuffer(b'x\\n', np.uint8))\n"
        "import scipy.linalg.cython_blas\n"
        "print('ok')\n"
    )
    assert _python(code).stdout.strip() == "ok"


def test_commands_run_with_a_lazier_cyclic_collector(tmp_path: object) -> None:
    """Hundreds of thousands of index rows: the collector's default thresholds cost the
    tail mode about 6 % of its CPU (objects traversed pass after pass)."""
    from pathlib import Path

    code = (
        "import gc, sys\n"
        "from stackwatch.cli import main\n"
        "try:\n"
        "    main(['logs', 'parse', sys.argv[1]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 0, file=sys.stderr)\n"
    )
    log = Path(str(tmp_path)) / "x.log"
    log.write_text("2026-11-21 06:19:36.304 590 INFO nova.api [-] hello\n")
    done = _python(code, str(log))
    assert done.stderr.strip().splitlines()[-1] == "50000 True"


def test_backfill_with_a_store_reads_no_config_and_imports_no_pydantic(tmp_path: object
                                                                       ) -> None:
    """``logs backfill --store`` reads no config: pydantic (about 0.15 CPU-s to import) is
    not loaded."""
    from pathlib import Path

    code = (
        "import sys\n"
        "from stackwatch.cli import main\n"
        "try:\n"
        "    main(['logs', 'backfill', '--store', sys.argv[1], '--host', 'h', sys.argv[2]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pydantic' in sys.modules, file=sys.stderr)\n"
    )
    folder = Path(str(tmp_path))
    log = folder / "nova-api.log"
    log.write_text("2026-11-21 06:19:36.304 590 INFO nova.api [-] hello\n")
    done = _python(code, str(folder / "s.sqlite"), str(log))
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
