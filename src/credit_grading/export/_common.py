"""What every exported file shares: the bundle's identity, and writing the file safely."""

from __future__ import annotations

from pathlib import Path

from credit_grading import __version__
from credit_grading.bundle import Bundle
from credit_grading.exceptions import BundleError, DataError
from credit_grading.storage import describe_os_error, write_atomic


def refuse_segments(bundle: Bundle, what: str) -> None:
    """A bundle of sector models is not exported: its pooled model alone would grade every row."""
    if getattr(bundle, "segments", None) is not None:
        raise BundleError(
            f"bundle {bundle.name} {bundle.version} holds sector models (segments by {bundle.segments.column!r}); "
            f"{what} export writes one model, so it would grade every sector with the pooled model — not exported"
        )


def identity_lines(bundle: Bundle, what: str) -> list[str]:
    """Lines naming the model, its version, the bundle's sha256 and the package that wrote the file."""
    return [
        f"{what} of credit_grading model {bundle.name!r}, version {bundle.version}",
        f"bundle sha256 {bundle.sha256 or '(not recorded)'}",
        f"written by credit_grading {__version__} from the bundle's specs (the same specs the engine compiles);",
        "do not edit by hand: export the bundle again instead.",
    ]


def check_output(path: Path | str, *, overwrite: bool = False) -> Path:
    """Refuse an ``--out`` that is a folder, lies in no folder, or exists (without ``overwrite``)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"--out {path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise DataError(f"--out {path} already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise DataError(f"--out {path}: the folder {path.parent} does not exist")
    return path


def write_output(path: Path | str, text: str, *, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically; an existing file is replaced only with ``overwrite``."""
    path = check_output(path, overwrite=overwrite)
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise DataError(describe_os_error(exc, f"writing the export file {path}")) from None
    return path
