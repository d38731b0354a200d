"""Run one student notebook in a fresh folder and kernel, with a time limit per cell (the grader's runner).

``run_notebook`` starts ``python -m mvdlib.classroom.grade --run-one ...`` in a session of its own;
that child (``_run_one``) executes the notebook with nbclient, interrupts a cell that runs out of
time, restarts the kernel when a cell ignores the interrupt or ends its kernel, and writes what
happened (errors, lost cells) and the value answers for :mod:`mvdlib.classroom.grade` to read.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from mvdlib.classroom.isolated import STARTUP_S

__all__ = ["GRACE_S", "MAX_RESTARTS", "NotebookRun", "run_notebook"]


# Run before the student's cells with a limit of its own.
_WARM_UP = "import numpy, torch, mvdlib.classroom.check, mvdlib.classroom.isolated"

# Appended to the executed notebook: writes the value answers (tensors, numbers, containers only).
_FETCH = "import mvdlib.classroom.isolated as _i\n_i.fetch(globals(), {names!r}, {path!r})"


# Seconds a timed-out cell has, after the interrupt, to stop; then its kernel is restarted.
GRACE_S = 3
# Kernel restarts in one notebook after which its remaining cells are not run.
MAX_RESTARTS = 3
_TIMEOUT_NAME = "GraderCellTimeout"  # the error the runner records for a cell that ran out of time


class _Progress:
    """Where the runner is: the cell it runs, written to a file before each cell, so that the grader can name
    the cell during which the runner itself was killed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, index: int) -> None:
        self.path.write_text(str(index))

    def read(self) -> int | None:
        text = self.path.read_text() if self.path.exists() else ""
        return int(text) if text.isdigit() else None


def _run_one(notebook: Path, workdir: Path, result: Path, pid_file: Path, cell_timeout: str, values: str) -> None:
    """Execute ``notebook`` in ``workdir`` (this process is the grader's child); write what raised to ``result``.

    A cell that runs out of time is interrupted; one that is still running ``GRACE_S`` later (it catches
    ``KeyboardInterrupt``), or that ends its kernel, costs a restart of the kernel, and the cells before it are
    run again (their outputs kept from the first run) before the next. ``result`` gets ``errors`` (the run's
    problems) and ``lost`` (student cell index -> why the kernel lost it).
    """
    from jupyter_client.provisioning import LocalProvisioner
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from nbclient.util import ensure_async, run_sync

    nb = nbformat.read(notebook, as_version=4)
    names = json.loads(values)
    if names:
        nb.cells.append(nbformat.v4.new_code_cell(_FETCH.format(names=names, path=str(result) + ".values")))
    timeout = float(cell_timeout)
    warm_up = nbformat.v4.new_code_cell(_WARM_UP)  # importing torch is no part of any cell's time limit
    nb.cells.insert(0, warm_up)
    idle: set[int] = set()  # cells whose kernel said it was done with them

    class Client(NotebookClient):
        def process_message(
            self, msg: dict[str, Any], cell: nbformat.NotebookNode, cell_index: int
        ) -> nbformat.NotebookNode | None:
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle.add(cell_index)
            return super().process_message(msg, cell, cell_index)

    client = Client(
        nb,
        timeout_func=lambda cell: STARTUP_S if cell.source == _WARM_UP else timeout,
        interrupt_on_timeout=True,
        iopub_timeout=GRACE_S,  # after the interrupt, how long the kernel has to say the cell is done
        error_on_timeout={"ename": _TIMEOUT_NAME, "evalue": f"after {timeout:g} s", "traceback": []},
        allow_errors=True,
        kernel_name="python3",
    )
    client.resources = {"metadata": {"path": str(workdir)}}
    progress = _Progress(Path(str(result) + ".progress"))

    def note_kernel(**_: object) -> None:  # the grader kills the kernel too if the time runs out
        provisioner = client.km.provisioner if client.km is not None else None
        if not isinstance(provisioner, LocalProvisioner):
            raise RuntimeError(f"the notebook's kernel has no local process to note, got {provisioner!r}")
        pid_file.write_text(str(provisioner.pid))

    def execute(cell: nbformat.NotebookNode, index: int) -> str | None:
        """Run one cell; None when its kernel is still usable, else why it was restarted."""
        progress(index)
        idle.discard(index)
        reply: dict = {}
        client.on_cell_executed = lambda execute_reply, **_: reply.update(execute_reply)
        try:
            client.execute_cell(cell, index)
        except DeadKernelError:
            reason = "ended its kernel (it killed or crashed the process)"
        else:
            timed_out = reply.get("content", {}).get("ename") == _TIMEOUT_NAME
            if not timed_out or index in idle:
                return None
            reason = f"timed out; interrupt ignored ({timeout:g} s, then {GRACE_S} s after the interrupt)"
        run_sync(restart)()
        note_kernel()
        return reason

    async def restart() -> None:
        assert client.km is not None and client.kc is not None
        await ensure_async(client.km.restart_kernel(now=True))
        await ensure_async(client.kc.wait_for_ready(timeout=STARTUP_S))  # type: ignore[attr-defined]

    lost: dict[int, str] = {}
    with client.setup_kernel():
        note_kernel()
        ran: list[int] = []  # the cells whose state the kernel holds
        for index, cell in enumerate(nb.cells):
            if len(lost) == MAX_RESTARTS:
                lost[index - 1] = f"and the cells after it were not run (the kernel was restarted {MAX_RESTARTS} times)"
                break
            reason = execute(cell, index)
            if reason is None:
                ran.append(index)
                continue
            lost[index - 1] = f"{reason}: the kernel was restarted and the cells before it run again"
            for earlier in ran:  # copies: the executed notebook keeps the first run's outputs
                if execute(copy.deepcopy(nb.cells[earlier]), earlier) is not None:
                    lost[index - 1] += f" up to cell {earlier - 1}, which failed this time"
                    ran = ran[: ran.index(earlier)]
                    break
    nb.cells.pop(0)
    errors = [
        f"cell {i} was interrupted after {timeout:g} s (the limit per cell)"
        if out.ename == "KeyboardInterrupt"
        else f"cell {i} raised {out.ename}: {out.evalue}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]
    errors += [f"cell {i} {why}" for i, why in lost.items() if i < len(nb.cells) - bool(names)]
    if names:
        nb.cells.pop()
    nbformat.write(nb, str(result) + ".ipynb")
    result.write_text(json.dumps({"errors": errors, "lost": lost}))


def _kill(process: subprocess.Popen, pid_file: Path) -> None:
    """End a runner and its kernel (which runs in a session of its own), if they are still there."""
    pids = [process.pid]
    if pid_file.exists() and pid_file.read_text().strip().isdigit():
        pids.append(int(pid_file.read_text()))
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


@dataclasses.dataclass
class NotebookRun:
    """What running a notebook gave: its ``problems`` (one line each) and the cells whose state its kernel
    ``lost`` (student cell index -> why: a cell that ignored the interrupt or ended its kernel)."""

    problems: list[str] = dataclasses.field(default_factory=list)
    lost: dict[int, str] = dataclasses.field(default_factory=dict)


def run_notebook(
    notebook: Path, private: Path, timeout_s: float, values: dict[str, str], keep: Path | None = None
) -> NotebookRun:
    """Run one notebook in a fresh folder, ``timeout_s`` per cell; value answers go to a file in ``private``.

    Returns the run's problems (cells that raised, were interrupted or lost, files it deleted) and lost cells.
    """
    run = NotebookRun()
    nb = nbformat.read(notebook, as_version=4)
    # A last resort (each cell has its own limit): every cell at its limit and grace, once and after each restart.
    wall_s = (timeout_s + GRACE_S) * (len(nb.cells) + 2) * (MAX_RESTARTS + 1) + STARTUP_S * (MAX_RESTARTS + 1)
    with tempfile.TemporaryDirectory(prefix="mvdlib-grade-") as tmp:
        workdir = Path(tmp)
        copied = workdir / notebook.name
        shutil.copy2(notebook, copied)
        before = {p.relative_to(workdir) for p in workdir.rglob("*")}
        result, pid_file = private / "result.json", private / "kernel.pid"
        env = {k: v for k, v in os.environ.items() if k not in ("MVDLIB_CHECK_STRICT", "MVDLIB_CHECK_LOG")}
        command = [sys.executable, "-m", "mvdlib.classroom.grade", "--run-one", str(copied), str(workdir)]
        command += [str(result), str(pid_file), str(timeout_s), json.dumps(values)]
        process = subprocess.Popen(
            command, cwd=workdir, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _, stderr = process.communicate(timeout=wall_s)
        except subprocess.TimeoutExpired:
            run.problems.append(f"{notebook.name}: timed out after {wall_s:g} s")
        else:
            if result.exists():
                outcome = json.loads(result.read_text())
                run.problems += [f"{notebook.name}: {e}" for e in outcome["errors"]]
                run.lost = {int(i): why for i, why in outcome["lost"].items()}
            elif process.returncode < 0:  # e.g. a cell's os.kill(os.getppid(), 9): the runner is the kernel's parent
                cell = _Progress(Path(str(result) + ".progress")).read()
                why = f"ended the grader's process that ran the notebook (signal {-process.returncode})"
                where = f"cell {cell - 1}" if cell else "a cell"
                run.problems.append(f"{notebook.name}: {where} {why}; the cells after it did not run")
                run.lost = {cell - 1: why} if cell else {}
            else:
                last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                run.problems.append(f"{notebook.name}: could not be run ({last[0]})")
        finally:
            if process.returncode is None or not result.exists():  # the runner, and its kernel if it is left
                _kill(process, pid_file)
        if keep is not None and Path(str(result) + ".ipynb").exists():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(result) + ".ipynb", keep / notebook.name)
        gone = sorted(str(p) for p in before if not (workdir / p).exists())
        if gone:
            run.problems.append(f"{notebook.name}: deleted {', '.join(gone)} from its working folder")
    return run
