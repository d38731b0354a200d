"""Time every chapter notebook, executed from scratch, and print a table.

    .venv/bin/python benchmarks/chapter_times.py                 # print the table
    .venv/bin/python benchmarks/chapter_times.py --write data/chapter_times.json

With ``--write`` the times are saved with their provenance (command, date, machine); the
instructors' page of the book reads that file. Each notebook runs ``--repeats`` times in a
fresh kernel and the median wall time is reported. By default every run starts with an
empty cache of rendered samples (``MVDLIB_CACHE`` set to a new temporary folder), as on a
reader's first run; ``--warm-cache`` keeps the usual cache instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def time_notebook(path: Path, timeout: int) -> float:
    """Wall time in seconds of executing one notebook in a fresh kernel, from its folder."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--write", type=Path, help="save the times with provenance to this JSON file")
    parser.add_argument("--warm-cache", action="store_true", help="reuse the rendered-sample cache")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapters/*.ipynb")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))

    rows = []
    print(f"{'chapter':40s} {'median s':>9s} {'runs':>5s}")
    for nb in notebooks:
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as empty:
                if not args.warm_cache:
                    os.environ["MVDLIB_CACHE"] = empty  # inherited by the notebook's kernel
                times.append(time_notebook(nb, args.timeout))
        rows.append({"notebook": nb.name, "median_s": round(statistics.median(times), 1), "runs_s": times})
        print(f"{nb.name:40s} {statistics.median(times):9.1f} {len(times):5d}", flush=True)
    total = sum(r["median_s"] for r in rows)
    print(f"{'total':40s} {total:9.1f}")

    if args.write:
        record = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "cpu_count": os.cpu_count(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": platform.python_version(),
            "sample_cache": "warm" if args.warm_cache else "empty at the start of every run",
            "total_s": round(total, 1),
            "chapters": rows,
        }
        args.write.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
