"""Train / validation / test splits: out of time by snapshot date, or stratified.

With ``split.method: auto`` (the default) data holding two or more snapshots (``as_of``)
is split out of time: the latest snapshot is the test set; with three or more, the one
before it is the validation set, otherwise a stratified share of the earlier rows is.
Data of one snapshot is split at random, stratified by the target. Seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_grading.config import Config, SplitMethod
from credit_grading.exceptions import DataError


@dataclass
class Splits:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    method: str
    description: str

    @property
    def test_label(self) -> str:
        """How reports head the test rows' figures: out of time, or held out at random."""
        return ("Out-of-time test" if self.method == "time" else "Held-out test") + f" ({self.description})"

    def summary(self) -> dict:
        return {
            "method": self.method,
            "description": self.description,
            "rows": {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)},
        }


def stratified_mask(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask choosing ``fraction`` of the rows of each class (seeded by ``rng``)."""
    pick = np.zeros(len(y), dtype=bool)
    for cls in np.unique(y):
        rows = np.flatnonzero(y == cls)
        take = round(fraction * rows.size)
        pick[rng.choice(rows, size=take, replace=False)] = True
    return pick


def split_frame(data: pd.DataFrame, config: Config) -> Splits:
    """Split a validated registry table (it needs the target; ``as_of`` for time splits)."""
    cfg = config.split
    target = config.dataset.target_column
    as_of = config.dataset.as_of_column
    if target is None or target not in data.columns:
        raise DataError("splitting needs the target column; set dataset.target_column")
    y = data[target].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(y).any():
        raise DataError(f"the target {target!r} has {int(np.isnan(y).sum())} missing value(s)")
    rng = np.random.default_rng(cfg.seed)
    dates = np.sort(data[as_of].unique()) if as_of and as_of in data.columns else np.array([])
    method = cfg.method
    if method == SplitMethod.AUTO:
        method = SplitMethod.TIME if len(dates) >= 2 else SplitMethod.STRATIFIED
    if method == SplitMethod.TIME:
        if len(dates) < 2:
            raise DataError("an out-of-time split needs at least two snapshots (as_of dates) in the data")
        when = data[as_of].to_numpy()
        test = when == dates[-1]
        if len(dates) >= 3:
            valid = when == dates[-2]
            desc = f"out of time: train before {pd.Timestamp(dates[-2]).date()}, valid {pd.Timestamp(dates[-2]).date()}"
        else:
            valid = np.zeros(len(data), dtype=bool)
            early = np.flatnonzero(~test)
            valid[early[stratified_mask(y[early], cfg.valid_fraction, rng)]] = True
            desc = f"out of time: train and valid (stratified {cfg.valid_fraction:.0%}) before {pd.Timestamp(dates[-1]).date()}"
        desc += f", test {pd.Timestamp(dates[-1]).date()}"
        train = ~test & ~valid
    else:
        test = stratified_mask(y, cfg.test_fraction, rng)
        rest = np.flatnonzero(~test)
        valid = np.zeros(len(data), dtype=bool)
        valid[rest[stratified_mask(y[rest], cfg.valid_fraction / (1 - cfg.test_fraction), rng)]] = True
        train = ~test & ~valid
        desc = f"stratified: valid {cfg.valid_fraction:.0%}, test {cfg.test_fraction:.0%}"
    parts = {name: data[mask] for name, mask in (("train", train), ("valid", valid), ("test", test))}
    for name, part in parts.items():
        ys = part[target].to_numpy(dtype=np.float64)
        if len(part) == 0 or ys.min() == ys.max():
            raise DataError(f"the {name} split has {len(part)} rows and needs both outcomes; add data or change split")
    return Splits(parts["train"], parts["valid"], parts["test"], str(method), desc)
