"""`make bench`: run every benchmark module in bench/ (each `*.py` except this one and `_`-prefixed helpers)
by calling its `main()` with no arguments, one module at a time, each in its own Python process, with its
output passed straight through. Exits non-zero when any benchmark failed. Knows nothing about what the
benchmarks measure.

    python bench/run.py                 # all of them
    python bench/run.py kubesim_api     # only the named ones
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# runs the module's main() (not its __main__ block) with an empty command line; exits with what main() returns
CALL_MAIN = "import runpy, sys; sys.argv = sys.argv[1:]; sys.exit(runpy.run_path(sys.argv[0])['main']())"


def modules(names: Sequence[str] = ()) -> list[Path]:
    """The benchmark modules, by name; every one when `names` is empty."""
    found = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_") and p.name != "run.py")
    if not names:
        return found
    by_name = {p.stem: p for p in found}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"bench/run.py: no benchmark {', '.join(unknown)}; there are: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    failed = []
    for path in modules(sys.argv[1:] if argv is None else argv):
        print(f"\n### {path.stem}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.run([sys.executable, "-c", CALL_MAIN, str(path)], cwd=BENCH_DIR.parent).returncode
        print(f"### {path.stem}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.monotonic() - t0:.0f} s",
              flush=True)
        if rc != 0:
            failed.append(path.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
