"""Write Google Colab's published package list as pip constraints (``constraints/colab-<date>.txt``).

    .venv/bin/python scripts/refresh_colab_constraints.py                 # the newest freeze on GitHub
    .venv/bin/python scripts/refresh_colab_constraints.py --commit SHA    # the freeze of one commit
    .venv/bin/python scripts/refresh_colab_constraints.py --from-file pip-freeze.txt --commit SHA --date 2026-08-19

Colab publishes ``pip freeze`` of its runtime in the public repository googlecolab/backend-info
(``pip-freeze.txt``: the CPU runtime). The constraints keep every ``name==version`` line and
drop the lines pip cannot take as a constraint (``name @ URL``: Colab's own ``google-colab``
package, its kernel gateway and its torch family, torch, torchvision, torchaudio and torchcodec
from download.pytorch.org). torch is left out on purpose: the Colab check
(``scripts/colab_check.py``) reuses the book's own CPU torch rather than Colab's build.
After a refresh, point ``COLAB_CONSTRAINTS`` in the Makefile at the new file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO = "googlecolab/backend-info"
FILE = "pip-freeze.txt"
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$")


def latest_commit() -> tuple[str, str]:
    """``(sha, ISO date)`` of the newest commit of ``pip-freeze.txt`` on GitHub."""
    url = f"https://api.github.com/repos/{REPO}/commits?path={FILE}&per_page=1"
    with urllib.request.urlopen(url, timeout=60) as response:
        commit = json.load(response)[0]
    return commit["sha"], commit["commit"]["committer"]["date"][:10]


def constraints(freeze: str, sha: str, date: str) -> str:
    """The constraints file for the text of a ``pip-freeze.txt``, with its source and date."""
    pinned, dropped = [], []
    for line in freeze.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PINNED.match(line)
        (pinned if match else dropped).append(line if match else line.split(" @ ")[0].strip())
    header = [
        f"# Google Colab's runtime (CPU) as published on {date}: pip freeze, as pip constraints.",
        f"# Source: https://github.com/{REPO}/blob/{sha}/{FILE}",
        f"# Written by scripts/refresh_colab_constraints.py; {len(pinned)} pinned packages.",
        "# Left out (installed from URLs there, not constraints pip can take): " + ", ".join(sorted(dropped)) + ".",
        "# torch is among them: the Colab check reuses the book's own CPU torch (Makefile's TORCH_PIN).",
    ]
    return "\n".join(header + sorted(pinned, key=str.lower)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", help="the commit of googlecolab/backend-info (default: the newest)")
    parser.add_argument("--date", help="the commit's date, YYYY-MM-DD (default: asked from GitHub)")
    parser.add_argument("--from-file", type=Path, help="a pip-freeze.txt already downloaded from that commit")
    args = parser.parse_args(argv)
    sha, date = args.commit, args.date
    if sha is None or date is None:
        if args.from_file is not None:
            parser.error("--from-file needs --commit and --date")
        sha, date = latest_commit() if sha is None else (sha, date)
    if args.from_file is not None:
        freeze = args.from_file.read_text()
    else:
        url = f"https://raw.githubusercontent.com/{REPO}/{sha}/{FILE}"
        with urllib.request.urlopen(url, timeout=60) as response:
            freeze = response.read().decode()
    if date is None:
        parser.error("--date is needed with --commit")
    out = ROOT / "constraints" / f"colab-{date}.txt"
    out.write_text(constraints(freeze, sha, date))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
