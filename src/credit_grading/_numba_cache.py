"""Where numba keeps its on-disk cache of compiled kernels: a directory only this user can write.

The compiled kernels (numba, ``cache=True``) are cached on disk, and numba stores that cache
with pickle: whoever can write the cache directory can run code in the next process that
loads it. So, unless ``NUMBA_CACHE_DIR`` is set, :func:`configure_numba_cache` (run before any
kernel module imports numba: by :mod:`credit_grading.engine` when it is imported, and by each
compiled module outside it, such as ``registry/_uscc_nb.py``) points numba at a per-user
directory, ``$XDG_CACHE_HOME/credit_grading/numba`` or ``~/.cache/credit_grading/numba``,
created with mode 0700. A directory there that another user owns, or that group or others may
write, is not used: the kernels are then cached in a private temporary directory removed at
exit (compiled afresh each run), with a one-line warning on standard error.

Layer 0: imports nothing of the package, and not numba itself.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path


def _unsafe(path: Path) -> str | None:
    """Why ``path`` (a directory) must not hold the kernel cache, or ``None`` when only we can write it."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.getuid():
        return "another user owns it"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "group or others may write it"
    return None


def _private_directory(path: Path) -> str | None:
    """Create ``path`` (mode 0700) if needed; ``None`` when it is safe, else the reason it is not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        if os.name == "nt":  # no POSIX owner or mode bits; the profile directory is the user's own
            return None
        for p in (path, path.parent):
            why = _unsafe(p)
            if why:
                return f"{why}: {p}" if p != path else why
    except OSError as exc:
        return f"it cannot be created ({exc.strerror or exc})"
    return None


def configure_numba_cache() -> str:
    """Point numba's on-disk kernel cache at a directory only this user can write; return it.

    ``NUMBA_CACHE_DIR``, when set, is the user's choice and is kept as it is.
    """
    given = os.environ.get("NUMBA_CACHE_DIR")
    if given:
        return given
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    wanted = base / "credit_grading" / "numba"
    why = _private_directory(wanted)
    if why is None:
        chosen = str(wanted)
    else:
        import atexit
        import shutil
        import tempfile

        chosen = tempfile.mkdtemp(prefix="credit_grading-numba-")  # mode 0700, ours
        atexit.register(shutil.rmtree, chosen, ignore_errors=True)
        sys.stderr.write(f"credit_grading: compiled kernels are not cached in {wanted} ({why}); "
                         "they are compiled afresh for this run\n")  # fmt: skip
    os.environ["NUMBA_CACHE_DIR"] = chosen
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba already imported (by another library): tell it too
        config.CACHE_DIR = chosen
    return chosen
