"""Regional exchange: exchange export (a signed interchange package) and exchange import (verified partner lists)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from credit_grading.cli import ConfigOpt, _parse_date, app, esc, out

exchange_app = typer.Typer(
    help="Share grades and list memberships with partner regions: signed packages out, verified partner lists in.",
    no_args_is_help=True,
)
app.add_typer(exchange_app, name="exchange")


@exchange_app.command("export")
def exchange_export(
    grades: Annotated[
        Path, typer.Option("--grades", help="A grading output (.parquet or .csv): id, grade, tier, as-of.")
    ],
    region: Annotated[str, typer.Option("--region", help="This region's 6-digit administrative division code.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Package folder to write (new, or empty).")],
    key: Annotated[Path, typer.Option("--key", "-k", help="Private signing key (signing_key.pem from models keygen).")],
    lists: Annotated[
        list[Path] | None,
        typer.Option("--lists", help="This region's list memberships (id, list, source, start, end); repeatable."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date of the grades when they have no as-of column.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write a signed interchange package: USCC, grade, tier, list memberships with dates, region, as-of."""
    from credit_grading.cli.supervision import read_lists
    from credit_grading.config import load_config
    from credit_grading.exchange import export_package
    from credit_grading.registry.io import read_frame

    ds = load_config(config).dataset
    frame = read_frame(grades, what="grades", text=False)
    manifest = export_package(frame, read_lists(lists, ds.id_name), out_dir, region=region, key_path=key,
                              id_column=ds.id_name, as_of_column=ds.as_of_column,
                              as_of=_parse_date(as_of, "--as-of") if as_of else None)  # fmt: skip
    files = manifest["files"]
    out.print(f"Wrote package {esc(out_dir)} for region {esc(region)} (as of {manifest['as_of_date']}): "
              f"{files['grades.parquet']['rows']:,} grades, {files['lists.parquet']['rows']:,} listings, signed.",
              soft_wrap=True)  # fmt: skip


@exchange_app.command("import")
def exchange_import(
    package: Annotated[Path, typer.Option("--package", help="A partner's package folder.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the partner list, grades, rejects, report.")],
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Partner lists are named PREFIX_<list> (default: r<region>).")
    ] = None,
    rename: Annotated[
        list[str] | None, typer.Option("--rename", help="LIST=NAME: name one partner list yourself; repeatable.")
    ] = None,
    trusted_key: Annotated[
        list[str] | None, typer.Option("--trusted-key", help="Public-key file or fingerprint to trust (repeatable).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Verify a partner's package (trusted signature, hashes, schema, every USCC) and write its partner list."""
    from credit_grading.config import load_config
    from credit_grading.exceptions import CreditGradingError
    from credit_grading.exchange import PARTNER_LISTS, REJECTS, import_package
    from credit_grading.signing import config_trusted_keys

    mapping = {}
    for item in rename or ():
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise CreditGradingError(f"--rename takes LIST=NAME, got {item!r}")
        mapping[old] = new
    keys = [*config_trusted_keys(load_config(config)), *(trusted_key or [])]
    res = import_package(package, out_dir, trusted_keys=keys, prefix=prefix, rename=mapping)
    r = res.report
    out.print(f"Package from region {esc(r['region'])} (as of {r['as_of_date']}), signed by {res.signer[:16]}: "
              f"{r['grades']['accepted']:,} of {r['grades']['rows']:,} grades and {r['lists']['accepted']:,} of "
              f"{r['lists']['rows']:,} listings accepted; lists {', '.join(r['lists']['names']) or '—'} written to "
              f"{esc(out_dir / PARTNER_LISTS)}.", soft_wrap=True)  # fmt: skip
    if len(res.rejects):
        reasons = ", ".join(f"{k} {v}" for k, v in r["reasons"].items())
        out.print(f"{len(res.rejects):,} row(s) rejected ({reasons}); see {esc(out_dir / REJECTS)}.", soft_wrap=True)
