"""Where outputs may go: safe folder names, paths proven to lie inside the output folder,
folders this package may replace, and what an interrupted run left behind.

* An organisation code becomes a folder name only through :func:`org_folder_name`, which
  accepts 1 to 32 letters, digits, ``-`` and ``_`` (starting with a letter or digit) and
  refuses anything else: no ``/``, ``..``, hidden or over-long names.
* :func:`inside` proves that a path, once resolved (``..`` and symbolic links followed), lies
  inside the output folder, before anything is written there.
* :func:`replace_problem` says why an existing folder must not be replaced: only a folder this
  package wrote (its ``manifest.json`` says so, and lists every file beside it) or an empty
  one is ever replaced.
* :func:`remove_stale_staging` removes the staging and backup folders (``.<name>.partial-<pid>-*``,
  ``.<name>.old-<pid>``) that a killed run left, once the process that made them is gone; a
  backup whose report was never put back is put back.
* :func:`exchange_folders` swaps a finished folder with the one it replaces in one step where
  the system allows it (Linux), so a report folder is never missing, even for an instant.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

#: What an organisation code (or any name that becomes a folder name) may look like.
ORG_CODE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"
_ORG_CODE = re.compile(ORG_CODE_PATTERN)
ORG_CODE_RULE = "1 to 32 letters, digits, '-' or '_', starting with a letter or digit (e.g. England, NLS, 00L, QE1)"

#: The manifest that marks a folder as written by this package (see :func:`replace_problem`).
MANIFEST = "manifest.json"
TOOL = "iapt-report"

#: Staging and backup folders: ``.<name>.partial-<pid>-<random>`` and ``.<name>.old-<pid>``.
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>partial|old)-(?P<pid>\d+)(?:-[^/]*)?")
#: Files half-written next to their final name: ``.<name>.<pid>.tmp``.
_PARTIAL_FILE = re.compile(r"\..+\.(?P<pid>\d+)\.tmp")


class OutputPathError(ValueError):
    """A name or folder that outputs must not be written to; the message says what to change."""


def shown(value, limit: int = 40) -> str:
    """A value from the user or a file for a message: text quoted, anything cut short."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}..."
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def org_folder_name(code: str, option: str = "--org") -> str:
    """``code`` itself, once it is proven safe as a folder name (see :data:`ORG_CODE_PATTERN`)."""
    if not isinstance(code, str) or not _ORG_CODE.fullmatch(code):
        raise OutputPathError(f"{option} {shown(code)} is not an organisation code: a code is {ORG_CODE_RULE}")
    return code


def inside(root: str | Path, path: str | Path) -> Path:
    """``path`` (absolute, or relative to ``root``), once proven to lie inside ``root``.

    Both are resolved first: ``..`` and symbolic links cannot lead a path out. Returns the
    path as given, made absolute (not resolved), so that messages show what the user wrote.
    """
    root = Path(root).absolute()
    candidate = root / path
    real_root, real = root.resolve(), candidate.resolve()
    if real != real_root and real_root not in real.parents:
        raise OutputPathError(f"{candidate} is outside the output folder {root}: nothing is written there")
    return candidate


def separate_folders(data: str | Path, data_option: str, out: str | Path, out_option: str) -> None:
    """Refuse an output folder that is the data folder, lies inside it, or holds it."""
    real_data, real_out = Path(data).resolve(), Path(out).resolve()
    if real_out == real_data:
        why = "is the same folder as"
    elif real_data in real_out.parents:
        why = "is inside"
    elif real_out in real_data.parents:
        why = "holds"
    else:
        return
    raise OutputPathError(f"{out_option} {out} {why} {data_option} {data}: outputs must not be written among the "
                          f"input data; choose an output folder outside it")


def replace_problem(folder: Path) -> str | None:
    """Why ``folder`` must not be replaced by a new output, or None when it may be.

    It may be replaced when it does not exist, is empty, or was written by this package: it
    holds a ``manifest.json`` of ours and no file beside it that the manifest does not list
    (so a document someone saved into a report folder is not lost with it).
    """
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return None
    if folder.is_symlink() or not folder.is_dir():
        return f"{folder} is not a folder"
    entries = list(folder.iterdir())
    if not entries:
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        ours = isinstance(manifest, dict) and manifest.get("tool") == TOOL
    except (OSError, ValueError):
        ours = False
    if not ours:
        return f"{folder} was not written by iapt-report (it holds no manifest.json of ours)"
    outputs = manifest.get("outputs")
    listed = set(outputs if isinstance(outputs, dict) else {}) | {MANIFEST}
    foreign = sorted(p.name for p in entries if p.is_file() and p.name not in listed)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        return f"{folder} holds files iapt-report did not write ({', '.join(foreign[:3])}{more})"
    return None


def check_replaceable(folder: Path, option: str, problem_of: Callable[[Path], str | None] | None = None) -> None:
    """Raise :class:`OutputPathError` when ``folder`` exists and must not be replaced.

    ``problem_of`` says why a folder must not be replaced (default :func:`replace_problem`).
    """
    problem = (problem_of or replace_problem)(folder)
    if problem:
        raise OutputPathError(f"{option}: {problem}; it would be replaced. Move what it holds, or choose "
                              f"another folder")


def check_writable(folder: Path, option: str, given: Path | None = None) -> None:
    """Make ``folder`` (and its parents) if needed and prove a file can be written in it, or raise
    :class:`OutputPathError` naming ``option`` and the value ``given`` for it (default ``folder``):
    before any work, not after it."""
    folder = Path(folder)
    given = folder if given is None else Path(given)
    where = "" if given == folder else f" (in {folder})"
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{option} {given}{where} is a file, not a folder: choose a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputPathError(f"{option} {given}: cannot write there{where} ({error.strerror or error}); choose a "
                              "folder you can write to") from None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (a process we may not signal counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # e.g. a pid beyond the system's range
        return False
    return True


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove what killed runs left in ``parent``; return what was removed or put back.

    A staging folder (``.<name>.partial-<pid>-...``) or half-written file (``.<name>.<pid>.tmp``)
    whose process is gone is deleted. A backup (``.<name>.old-<pid>``) is the previous output
    moved aside for the swap: if ``<name>`` is missing (the run was killed between the two
    renames) it is put back, otherwise deleted. Folders of running processes are left alone.
    """
    parent = Path(parent)
    handled = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return handled
    for entry in entries:
        folder = _LEFTOVER.fullmatch(entry.name)
        partial_file = _PARTIAL_FILE.fullmatch(entry.name)
        match = folder or partial_file
        if match is None or int(match["pid"]) == os.getpid() or pid_alive(int(match["pid"])):
            continue
        if folder and entry.is_dir() and not entry.is_symlink():
            final = parent / folder["name"]
            if folder["kind"] == "old" and not final.exists():
                entry.rename(final)
            else:
                shutil.rmtree(entry, ignore_errors=True)
            handled.append(entry)
        elif partial_file and entry.is_file():
            entry.unlink(missing_ok=True)
            handled.append(entry)
    return handled


# --- swapping a finished folder into place -----------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_folders(first: Path, second: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``).

    False, with nothing changed, where the system or file system cannot do it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(error, os.strerror(error), str(first), None, str(second))


@contextlib.contextmanager
def signals_deferred():
    """Hold Ctrl-C and SIGTERM back for the duration of the block (a folder swap), then act on them.

    Only the main thread can do this; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {number: signal.signal(number, lambda number, _frame: received.append(number)) for number in wanted}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signal.raise_signal(received[0])  # now handled as it would have been
