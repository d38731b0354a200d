"""Run one exercise's check where the student's code cannot reach it (issue 21).

Three processes take part. The grader (:mod:`mvdlib.classroom.grade`) starts a *checker*,
``python -m mvdlib.classroom.isolated --check`` (the answer on its stdin), a fresh interpreter with a pristine
``mvdlib`` and no check log. For a function answer the checker starts a *server* holding only
the student's function (defined from its source); the check calls it through a proxy, so the
arguments and results cross a process boundary as tensors (results are read back with
``torch.load(weights_only=True)``, which runs no code). The student's code thus never shares an
interpreter with the check or the grader. A value answer arrives the same way, from the file the
executed notebook's kernel wrote. The checker writes ``{"status", "message"}`` to its stdout.

In the server, the library functions the exercise's check compares against
(:func:`reference_functions`) are replaced by wrappers before the student's code is defined; a
call of one made directly from the student's code (however it was reached: an alias imported in
another cell, ``getattr`` with a name built at run time) is reported back, and the answer is
flagged instead of graded.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import secrets
import select
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from mvdlib.classroom.check._core import ERROR, NOT_ATTEMPTED, STRICT_ENV

__all__ = ["run_check", "reference_functions", "salted_inputs", "fetch", "pack", "unpack", "main", "FLAGGED"]

FLAGGED = "flagged"
_ANSWER_FILE = "<answer>"  # the file name the student's code is compiled under
_LIBRARY = str(Path(__file__).resolve().parents[1]) + os.sep  # mvdlib's own files call references freely


def _refuse_notebooks(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook for the student's process: no notebook (the full edition's solutions) may be opened."""
    if event == "open" and str(args[0]).lower().endswith(".ipynb"):
        raise PermissionError(f"the answer may not open a notebook ({args[0]})")


_NDARRAY = "__ndarray__"
_NAMEDTUPLE = "__namedtuple__"
# Seconds a checker may spend starting (two interpreters importing torch) on top of the calls' limits.
STARTUP_S = 120.0


def pack(value: Any) -> Any:
    """A value made of tensors, numbers, strings and containers only (NumPy arrays become tagged tensors)."""
    if isinstance(value, np.ndarray):
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if value is None or value is ... or isinstance(value, bool | int | float | str):
        return None if value is ... else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple (e.g. DepthView): by its class
        cls = type(value)
        if cls.__module__.startswith("mvdlib."):
            return {_NAMEDTUPLE: [cls.__module__, cls.__qualname__], "fields": [pack(v) for v in value]}
        return [pack(v) for v in value]
    if isinstance(value, list | tuple):
        return type(value)(pack(v) for v in value)
    if isinstance(value, dict):
        return {str(k): pack(v) for k, v in value.items()}
    return f"<{type(value).__name__} object>"


def unpack(value: Any) -> Any:
    """The inverse of :func:`pack`."""
    if isinstance(value, dict):
        if set(value) == {_NDARRAY}:
            return value[_NDARRAY].numpy()
        if set(value) == {_NAMEDTUPLE, "fields"}:  # only the library's own named tuples are rebuilt
            module, name = value[_NAMEDTUPLE]
            cls = getattr(importlib.import_module(module), name, None) if str(module).startswith("mvdlib.") else None
            if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
                raise ValueError(f"value names {module}.{name} as a named tuple, which it is not")
            return cls(*unpack(value["fields"]))
        return {k: unpack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(unpack(v) for v in value)
    return value


def fetch(namespace: dict[str, Any], expressions: dict[str, str], path: str) -> None:
    """Run in the executed kernel: save each value answer (key -> the check call's argument) to ``path``."""
    values = {}
    for key, expression in expressions.items():
        try:
            values[key] = pack(eval(expression, namespace))  # noqa: S307 - the student's own expression, in its kernel
        except Exception:  # an answer that cannot be evaluated is reported as not reached
            continue
    torch.save(values, path)


def _dump(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(pack(value), buffer)
    return buffer.getvalue()


def _load(data: bytes) -> Any:
    return unpack(torch.load(io.BytesIO(data), weights_only=True))


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("the student's process ended")
    return stream.read(struct.unpack("<Q", header)[0])


def reference_functions(key: str) -> dict[str, Callable[..., Any]]:
    """The library functions (outside ``mvdlib.classroom``) that exercise ``key``'s check module holds, by name."""
    from mvdlib.classroom.check import REGISTRY

    module = sys.modules[REGISTRY[key].__module__]
    return {
        n: obj
        for n, obj in vars(module).items()
        if callable(obj)
        and not (isinstance(obj, type) and issubclass(obj, tuple | Exception))  # records (DepthView) and errors
        and str(getattr(obj, "__module__", "")).startswith("mvdlib.")
        and not str(obj.__module__).startswith("mvdlib.classroom")
    }


def _watch_references(key: str, used: set[str], allowed: set[str]) -> None:
    """Replace exercise ``key``'s reference functions, wherever ``mvdlib`` holds them, by wrappers that add
    their name to ``used`` when the caller is not the library itself (the student's code, a thread or a
    ``functools.partial`` it started)."""
    for ref_name, original in reference_functions(key).items():
        if ref_name in allowed:  # the book's own solution uses it
            continue

        def wrapper(*args: Any, _f: Callable[..., Any] = original, _n: str = ref_name, **kwargs: Any) -> Any:
            if not sys._getframe(1).f_code.co_filename.startswith(_LIBRARY):  # the student's code, a thread, ...
                used.add(_n)
            return _f(*args, **kwargs)

        wrapper.__name__ = wrapper.__qualname__ = original.__name__
        for module in [m for n, m in sys.modules.items() if n.startswith("mvdlib") and m is not None]:
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, wrapper)


def _serve(source: str, name: str, key: str, allowed: set[str]) -> None:
    """The server: define the student's function, then answer calls until stdin closes."""
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the student's prints go to stderr, never into the channel
    channel_in = sys.stdin.buffer
    used: set[str] = set()
    _watch_references(key, used, allowed)
    sys.addaudithook(_refuse_notebooks)  # for good: an audit hook cannot be removed
    namespace: dict[str, Any] = {"__name__": "__student__"}
    exec(compile(source, _ANSWER_FILE, "exec"), namespace)  # noqa: S102 - the student's own code, in its own process
    function = namespace[name]
    _send(channel_out, _dump(("ready", None)))
    while True:
        try:
            request = _receive(channel_in)
        except EOFError:
            return
        args, kwargs = unpack(torch.load(io.BytesIO(request), weights_only=False))  # from the trusted checker
        try:
            reply = ("ok", function(*args, **kwargs), sorted(used))
        except Exception as error:  # reported to the check as the student's exception
            reply = ("raised", [type(error).__name__, str(error)], sorted(used))
        _send(channel_out, _dump(reply))


# The checker and the student's server never put their working folder on sys.path (Python >= 3.11), so a
# module the student's code plants there (e.g. a select.py) is not imported in place of the standard one.
SAFE_PATH = {"PYTHONSAFEPATH": "1"}


class _Proxy:
    """The student's function as the check sees it: each call crosses to the server process."""

    def __init__(self, source: str, name: str, key: str, allowed: list[str], call_timeout_s: float) -> None:
        self.call_timeout_s = call_timeout_s
        self.used_references: set[str] = set()
        env = {k: v for k, v in os.environ.items() if k != STRICT_ENV} | SAFE_PATH
        self.server = subprocess.Popen(
            [sys.executable, "-m", "mvdlib.classroom.isolated", "--serve", name, key, ",".join(allowed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert self.server.stdin is not None
        _send(self.server.stdin, source.encode("utf-8"))
        self.__name__ = name
        self.ready = self._reply(STARTUP_S) is not None  # the start (imports, definition) has a limit of its own

    def _reply(self, timeout_s: float) -> Any:
        """The server's next reply, or None when it ended without one."""
        assert self.server.stdout is not None
        ready, _, _ = select.select([self.server.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"your function ran out of time ({timeout_s:g} s for one call)")
        try:
            return _load(_receive(self.server.stdout))
        except EOFError:
            return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        assert self.server.stdin is not None and self.server.stdout is not None
        if not self.ready:
            raise RuntimeError("the answer's code could not be run (it does not define the function)")
        buffer = io.BytesIO()
        torch.save(pack((list(args), kwargs)), buffer)
        _send(self.server.stdin, buffer.getvalue())
        reply = self._reply(self.call_timeout_s)
        if reply is None:
            raise RuntimeError("the answer's code ended the process it ran in")
        status, value, used = reply
        self.used_references.update(used)
        if status == "raised":
            raise type(str(value[0]), (Exception,), {})(value[1])
        return value

    def close(self) -> None:
        self.server.kill()
        self.server.wait()


@contextlib.contextmanager
def salted_inputs(salt: int) -> Iterator[None]:
    """Within the block, every generator a check seeds with a number (``np.random.default_rng(seed)``,
    ``torch.Generator().manual_seed(seed)``) is seeded with (seed, ``salt``) instead: the checker draws
    inputs nobody saw before, so a table of outputs for the public seeds' inputs does not pass."""
    default_rng, generator = np.random.default_rng, torch.Generator

    def salted_rng(seed: Any = None) -> np.random.Generator:
        return default_rng([int(seed), salt] if isinstance(seed, int | np.integer) else seed)

    class SaltedGenerator(generator):  # type: ignore[misc, valid-type]
        def manual_seed(self, seed: int) -> torch.Generator:
            return super().manual_seed((int(seed) * 1_000_003 + salt) % 2**63)

    np.random.default_rng, torch.Generator = salted_rng, SaltedGenerator  # type: ignore[misc]
    try:
        yield
    finally:
        np.random.default_rng, torch.Generator = default_rng, generator  # type: ignore[misc]


def _check(spec: dict[str, Any]) -> tuple[str, str]:
    """Run the check named in ``spec`` on its answer; returns (status, message)."""
    from mvdlib.classroom.answers import is_stub_source
    from mvdlib.classroom.check import REGISTRY

    check = REGISTRY[spec["key"]]
    if spec["source"]:
        if is_stub_source(spec["source"], spec["name"]):
            return NOT_ATTEMPTED, "not attempted yet"
        allowed = [str(n) for n in spec.get("allowed", [])]
        proxy = _Proxy(spec["source"], spec["name"], spec["key"], allowed, float(spec["call_timeout_s"]))
        try:
            with salted_inputs(secrets.randbits(31)):
                result = check(proxy)
        finally:
            proxy.close()
        if proxy.used_references:
            names = ", ".join(sorted(proxy.used_references))
            return FLAGGED, f"the answer calls the library's reference {names} instead of computing it"
    else:
        data = Path(spec["value_file"]).read_bytes() if Path(spec["value_file"]).is_file() else None
        try:
            values = _load(data) if data else {}
        except ValueError as error:  # a value dressed as a library class it is not
            return ERROR, f"the notebook's values could not be read back: {error}"
        if spec["key"] not in values:
            why = f" ({spec['why_missing']})" if spec.get("why_missing") else ""
            return ERROR, f"the notebook did not reach the answer{why}"
        value = values[spec["key"]]
        if isinstance(value, str) and value.startswith("<") and value.endswith(" object>"):
            return ERROR, f"the answer {spec['name']} is a {value[1:-8]}, not a function defined in the answer cell"
        result = check(... if value is None else value)
    return result.status, result.message


def run_check(
    key: str,
    name: str,
    source: str,
    value_file: Path,
    workdir: Path,
    timeout_s: float,
    allowed: Iterable[str] = (),
    why_missing: str = "",
) -> tuple[str, str]:
    """Check one answer in a fresh checker process; (status, message), an error on a time-out or a crash.

    The answer goes to the checker through its stdin and the result comes back on its stdout: no file a
    process the student left running could rewrite. The checker (and the student's server, its child) runs
    in a session of its own, so that ``os.killpg(0, ...)`` in the student's code does not reach the grader.
    ``why_missing`` is added to the message when a value answer is not in ``value_file``.
    """
    spec = {"key": key, "name": name, "source": source, "value_file": str(value_file), "call_timeout_s": timeout_s,
            "allowed": sorted(allowed), "why_missing": why_missing}  # fmt: skip
    wall_s = 10 * timeout_s + 2 * STARTUP_S  # a last resort: each call of the student's function has ``timeout_s``
    env = {k: v for k, v in os.environ.items() if k not in (STRICT_ENV, "MVDLIB_CHECK_LOG")} | SAFE_PATH
    command = [sys.executable, "-m", "mvdlib.classroom.isolated", "--check"]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(json.dumps(spec).encode(), timeout=wall_s)
    except subprocess.TimeoutExpired:
        return ERROR, f"the check ran out of time ({wall_s:g} s)"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the checker's session: the student's server and its children
        process.wait()
    lines = stdout.decode(errors="replace").strip().splitlines()
    if process.returncode < 0:
        return ERROR, f"the checking process was ended by signal {-process.returncode} (did the answer kill it?)"
    if process.returncode != 0 or not lines:
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        return ERROR, f"the check could not run ({last[0]})"
    result = json.loads(lines[-1])
    return str(result["status"]), str(result["message"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        _serve(_receive(sys.stdin.buffer).decode("utf-8"), argv[1], argv[2], set(filter(None, argv[3].split(","))))
        return 0
    if argv[:1] != ["--check"]:
        print("usage: python -m mvdlib.classroom.isolated --check < SPEC.json (the grader's checker)", file=sys.stderr)
        return 2
    spec = json.loads(sys.stdin.read())
    result = sys.stdout
    sys.stdout = sys.stderr  # the check's printed line is not the result
    status, message = _check(spec)
    result.write(json.dumps({"status": status, "message": message}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
