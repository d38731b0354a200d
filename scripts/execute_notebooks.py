"""Execute notebooks once, in parallel, and keep their outputs for the book build.

Each notebook runs top to bottom in its own kernel, from its own folder, with a cell that
raises failing the notebook (what ``pytest --nbval-lax`` checks: no cell of the chapters is
tagged to compare outputs or to raise). With ``--cache`` the executed notebooks go into that
jupyter-cache folder, the one Jupyter Book reads with ``execute_notebooks: cache``
(``_build/.jupyter_cache``): the book build then finds every notebook executed and runs
none again. A notebook whose code already has a cached execution is not run again either.

The notebooks run ``--jobs`` at a time (default: one per CPU core), each kernel with
``cpu_count // jobs`` torch/BLAS threads, so that the cores are shared and not oversubscribed.
The time of each notebook is printed, slowest first.

    python scripts/execute_notebooks.py chapters --cache _build/.jupyter_cache
    python scripts/execute_notebooks.py _build/student --jobs 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def notebooks_in(paths: list[Path]) -> list[Path]:
    """The ``.ipynb`` files named, or found (not recursively into checkpoints) under the folders named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise ValueError(f"paths must be notebooks or folders of notebooks, got {str(path)!r}")
    return found


def execute(path: Path, timeout: int, threads: int) -> tuple[str, float, str | None]:
    """Run one notebook from its folder; return (executed notebook as JSON text, seconds, error text or None)."""
    from jupyter_cache.executors.utils import single_nb_execution  # type: ignore[import-untyped]

    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(
        notebook, cwd=str(path.parent.resolve()), allow_errors=False, timeout=timeout, meta_override=True
    )
    error = None if result.err is None else result.exc_string
    return nbformat.writes(notebook), result.time, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks, or folders of notebooks")
    parser.add_argument("--cache", type=Path, default=None, help="jupyter-cache folder to read and fill")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="notebooks run at a time")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    paths = notebooks_in(args.paths)
    cache = None
    if args.cache is not None:
        from jupyter_cache import get_cache  # type: ignore[import-untyped]

        cache = get_cache(str(args.cache))
        todo = []
        for path in paths:
            try:
                cache.match_cache_notebook(nbformat.read(path, as_version=4))
            except KeyError:
                todo.append(path)
        if len(todo) < len(paths):
            print(f"{len(paths) - len(todo)} notebook(s) already executed in {args.cache}")
        paths = todo
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    start = time.perf_counter()
    times: dict[Path, float] = {}
    failed: list[Path] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(execute, path, args.timeout, threads): path for path in paths}
        for future in as_completed(futures):
            path = futures[future]
            text, seconds, error = future.result()
            times[path] = seconds
            if error is not None:
                failed.append(path)
                print(f"FAILED {path} ({seconds:.0f} s):\n{error}", file=sys.stderr, flush=True)
                continue
            print(f"executed {path} in {seconds:.0f} s", flush=True)
            if cache is not None:
                from jupyter_cache.base import CacheBundleIn  # type: ignore[import-untyped]

                record = cache.add_nb_to_project(str(path.resolve()))
                cache.cache_notebook_bundle(
                    CacheBundleIn(nbformat.reads(text, as_version=4), record.uri, data={"execution_seconds": seconds}),
                    check_validity=False,
                    overwrite=True,
                )
    wall = time.perf_counter() - start
    for path, seconds in sorted(times.items(), key=lambda item: -item[1]):
        print(f"{seconds:7.1f} s  {path}")
    print(f"{len(times)} notebook(s), {len(failed)} failed, in {wall:.0f} s", end=" ")
    print(f"({args.jobs} at a time, {threads} thread(s) each)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
