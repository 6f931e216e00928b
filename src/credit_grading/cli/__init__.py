"""The ``credit-grading`` command line. Thin: it parses options and calls the library.

A :class:`~credit_grading.exceptions.CreditGradingError` becomes a one-paragraph message
on standard error and exit code 1, never a traceback.

User data is never read as console markup: every path, id, column name or value printed goes
through :func:`esc` (``[red]`` in a path prints as ``[red]``; ``[/x]`` in a value cannot crash
the printer), and emoji codes (``:smile:``) are not replaced. Only our own styling is markup.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from credit_grading import __version__
from credit_grading.exceptions import CreditGradingError

app = typer.Typer(
    name="credit-grading",
    help="Credit scoring and credit-classification supervision of enterprises.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


def esc(value: object) -> str:
    """``value`` as text that prints verbatim inside console markup (paths, ids, column names, values).

    >>> esc("/tmp/[red]out"), esc(3)
    ('/tmp/\\\\[red]out', '3')
    """
    return escape(str(value))


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration YAML (default: the built-in configs/default.yaml)."),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"credit-grading {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Credit scoring and credit-classification supervision of enterprises."""


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CreditGradingError(f"{option} must be a date written YYYY-MM-DD, got {value!r}") from None


PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Supervision policy YAML (default: the built-in configs/supervision.yaml)."),
]

AuditOpt = Annotated[
    Path | None,
    typer.Option("--audit-db", help="Audit database (default: $CREDIT_GRADING_AUDIT_DB or ./credit_grading_audit.db)."),
]

ModelOpt = Annotated[
    str,
    typer.Option("--model", "-m", help="A bundle directory, models:/NAME/VERSION or models:/NAME@alias."),
]


def load_model(ref: str, config: Path | None = None, *, verbose: bool = False):
    """The bundle ``--model`` names; with ``--config``, signed by one of its ``security.trusted_keys``
    (``$CREDIT_GRADING_TRUSTED_KEYS`` applies either way)."""
    from credit_grading.tracking import resolve_model

    keys: tuple[str, ...] = ()
    if config is not None:
        from credit_grading.config import load_config
        from credit_grading.signing import config_trusted_keys

        keys = config_trusted_keys(load_config(config))
    return resolve_model(ref, verbose=verbose, trusted_keys=keys)


def main() -> None:
    """Entry point of the ``credit-grading`` console script."""
    try:
        app()
    except CreditGradingError as exc:
        err.print(f"[bold red]error:[/bold red] {esc(exc)}", soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()


# The commands register themselves on ``app`` when their modules are imported.
from credit_grading.cli import data, demo, models, batch, reports, supervision, audit, export, exchange  # noqa: E402, F401, I001
