"""Realistic bad rows for testing validation: ``--invalid-fraction``.

Each chosen row gets exactly one defect of a known kind, and the defect is recorded (row
number, column, expected reason code) so a test can check that validation rejects every
injected row for its reason and no clean row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_grading.registry.uscc import ALPHABET

# (kind, column, reason code) — the defects injected, in the order they are cycled.
DEFECTS = (
    ("bad_check_digit", "uscc", "uscc_check_digit"),
    ("bad_length", "uscc", "uscc_length"),
    ("bad_charset", "uscc", "uscc_charset"),
    ("duplicate", "uscc", "duplicate_id"),
    ("negative_amount", "registered_capital", "out_of_range"),
    ("negative_amount", "tax_arrears_amount", "out_of_range"),
    ("negative_amount", "enforcement_amount", "out_of_range"),
    ("unknown_level", "industry", "unknown_level"),
    ("unknown_level", "district", "unknown_level"),
    ("unknown_level", "tax_credit_rating", "unknown_level"),
    ("out_of_range", "social_insurance_arrears_months", "out_of_range"),
    ("out_of_range", "employees_insured", "out_of_range"),
    ("invalid_flag", "dishonest_debtor_flag", "invalid_flag"),
    ("future_date", "established_on", "future_date"),
)
_UNKNOWN = {"industry": "Z", "district": "xiongan", "tax_credit_rating": "AA"}
_TOO_LARGE = {"social_insurance_arrears_months": 150.0, "employees_insured": 900000.0}


def inject_defects(
    columns: dict[str, object], n: int, fraction: float, rng: np.random.Generator, as_of_days: int
) -> pd.DataFrame:
    """Corrupt ``round(fraction * n)`` rows of ``columns`` in place; return what was done.

    ``columns`` maps column names to numpy arrays (numeric, level indices with the level
    list under ``"<name>__levels"``) or pyarrow string arrays (``uscc``).
    """
    k = round(fraction * n)
    if k == 0 or n < 2:
        return pd.DataFrame({"row_number": [], "column": [], "reason": [], "defect": []})
    k = min(k, n - 1)
    rows = np.sort(rng.choice(np.arange(1, n), size=k, replace=False))  # row 0 stays clean
    kinds = rng.permutation(np.resize(np.arange(len(DEFECTS)), k))
    uscc = columns["uscc"]
    new_codes = np.asarray(uscc.to_numpy(zero_copy_only=False), dtype=object)
    clean = np.ones(n, dtype=bool)
    clean[rows] = False
    clean_rows = np.flatnonzero(clean)
    for d, (kind, column, _) in enumerate(DEFECTS):
        sel = rows[kinds == d]
        if sel.size == 0:
            continue
        if kind == "bad_check_digit":
            old = np.array([c[-1] for c in new_codes[sel]])
            shift = rng.integers(1, len(ALPHABET), sel.size)
            idx = (np.array([ALPHABET.index(c) for c in old]) + shift) % len(ALPHABET)
            new_codes[sel] = [c[:-1] + ALPHABET[i] for c, i in zip(new_codes[sel], idx, strict=True)]
        elif kind == "bad_length":
            new_codes[sel] = [c[:-1] for c in new_codes[sel]]
        elif kind == "bad_charset":
            bad = rng.choice(list("IOSVZ"), sel.size)
            new_codes[sel] = [c[:10] + b + c[11:] for c, b in zip(new_codes[sel], bad, strict=True)]
        elif kind == "duplicate":
            # Copy the code of a random clean row that comes earlier in the file.
            upto = np.searchsorted(clean_rows, sel)  # clean rows before each selected row (>= 1)
            src = clean_rows[(rng.random(sel.size) * upto).astype(np.int64)]
            new_codes[sel] = new_codes[src]
        elif kind == "negative_amount":
            v = columns[column]
            base = np.where(np.isnan(v[sel]) | (v[sel] <= 0), 1.0, v[sel])
            v[sel] = -np.round(base * rng.uniform(0.5, 2.0, sel.size), 2)
        elif kind == "unknown_level":
            levels = columns[f"{column}__levels"]
            if _UNKNOWN[column] not in levels:
                levels.append(_UNKNOWN[column])
            columns[column][sel] = levels.index(_UNKNOWN[column])
        elif kind == "out_of_range":
            columns[column][sel] = _TOO_LARGE[column] + rng.integers(0, 100, sel.size)
        elif kind == "invalid_flag":
            columns[column][sel] = 2.0
        elif kind == "future_date":
            columns[column][sel] = as_of_days + rng.integers(1, 400, sel.size)
    # Only the corrupted rows were touched in Python (a small fraction, by construction).
    columns["uscc"] = pa.array(new_codes, type=pa.string())
    return pd.DataFrame(
        {
            "row_number": rows + 1,
            "column": [DEFECTS[i][1] for i in kinds],
            "reason": [DEFECTS[i][2] for i in kinds],
            "defect": [DEFECTS[i][0] for i in kinds],
        }
    )


__all__ = ["DEFECTS", "inject_defects"]
