"""Run every keras-mia benchmark, each in its own process.

Each script prints its table and writes `benchmarks/results/<name>.json`
(or into `--out`). A separate process per script keeps their memory
apart (the long-run RSS would otherwise include the other benchmarks').
`python3 tasks.py bench [options]` runs this script with the project's
virtual environment.

Usage:
    python benchmarks/run_all.py [--quick] [--only name,...] [--out DIR]

`--quick` runs every script at a tiny size (seconds of work, not a
measurement) to check that they still run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Script name -> arguments for a quick (tiny) run.
BENCHMARKS = {
    "callback_overhead": ["--records", "200", "--repeats", "1",
                          "--models", "mlp", "--configs", "default"],
    "engine_scale": ["--sizes", "1000,2000", "--classes", "10",
                     "--repeats", "1"],
    "long_run_memory": ["--records", "200", "--evaluations", "5",
                        "--side", "12"],
    "training_overhead": ["--epochs", "2", "--repeats", "1",
                          "--settings", "default", "--no-warmup"],
    "threshold_search": ["--sizes", "500", "--repeats", "1"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: checks the scripts run")
    parser.add_argument("--only", default=None,
                        help="comma-separated names from: "
                        + ", ".join(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the JSON results")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {list(BENCHMARKS)}")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    failed = []
    for name in names:
        command = [sys.executable, str(HERE / f"{name}.py")]
        if args.quick:
            command += BENCHMARKS[name]
        if args.out is not None:
            command += ["--out", str(args.out)]
        print(f"\n=== {name}", flush=True)
        start = time.perf_counter()
        code = subprocess.run(command, env=env).returncode
        print(f"=== {name}: exit {code} in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
