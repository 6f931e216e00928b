"""One chunk of a rescoring job: validated, scored, graded and explained into an Arrow table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_grading.batch.keys import SeenKeys
from credit_grading.batch.options import RescoreOptions
from credit_grading.batch.output import ResultBuilder
from credit_grading.batch.previous import PreviousGrades
from credit_grading.bundle import Bundle
from credit_grading.config.grading import STATUS_M
from credit_grading.engine.model import CompiledModel
from credit_grading.exceptions import DataError
from credit_grading.grading.result_schema import TIER_CODES
from credit_grading.registry.validate import ValidationResult, validate_table
from credit_grading.service import BundleGrader


class ChunkGrader:
    """Grades the chunks of one registry file with one bundle under one set of options."""

    def __init__(self, bundle: Bundle, options: RescoreOptions, previous: PreviousGrades | None, source: str) -> None:
        from credit_grading.grading.decide import grader_for

        self.bundle = bundle
        self.options = options
        self.previous = previous
        self.source = source
        self.grader = BundleGrader(bundle, reasons=options.reasons)
        model = bundle.model
        full = self.grader.schema
        self.decider = model.decider
        self.builder = ResultBuilder(model.name, model.version, model.scale.grades, model.scale.tiers,
                                     model.overrides, full.id_column, full.as_of_column)  # fmt: skip
        self.rules = grader_for(model)
        self.threads: int | None = None  # the engine's threads per chunk (None: all cores)
        self.lists = None  # dated list memberships the override rules read (--lists)
        if options.lists:
            from credit_grading.lists import combine, read_memberships

            self.lists = combine(*(read_memberships(p, id_column=full.id_column) for p in options.lists))
        unknown = [c for c in options.carry if c not in full.catalogue]
        if unknown:
            raise DataError(f"cannot carry {unknown} to the output: not catalogue items of this model's registry")
        self.needed = self._needed_columns() | frozenset(options.carry)
        # The contract the chunks are read and validated under: every item (validate="all"), or only
        # the items the decision reads — a defect elsewhere is no reason to leave an entity ungraded.
        self.schema = full
        if options.validate == "read":
            self.schema = replace(full, catalogue=full.catalogue.subset(sorted(self.needed)))

    def _needed_columns(self) -> frozenset[str]:
        """Items the decision reads: the scorecard's (its points are every result's score), the GBM's
        when it decides or is asked for, and the override rules' (the rest is not carried)."""
        m = self.bundle.model
        need: set[str] = set()
        if m.scorecard is not None:
            need |= {f.name for f in m.scorecard.features}
        if m.gbm is not None and (m.champion == "gbm" or self.options.challenger):
            need |= {f.name for f in m.gbm.features}
        for rule in m.overrides:
            need |= {i for i in rule.when.items() if not i.startswith("list:")}  # lists come from --lists
            if _counts_missing(rule.when):
                need |= {f.name for f in self.decider.features}
        segments = self.bundle.segments
        if segments is not None:  # sector models: the segment column and every segment model's features
            need.add(segments.column)
            for name in segments.models:
                seg = segments.model_of(name)
                for part in (seg.scorecard, seg.gbm):
                    if part is not None:
                        need |= {f.name for f in part.features}
        return frozenset(need)

    def grade(
        self, offset: int, table: pa.Table, duplicates: np.ndarray | SeenKeys
    ) -> tuple[pa.Table, pd.DataFrame, dict]:
        """Results, rejects and counts of the chunk starting at row ``offset`` (0-based) of the file.

        ``duplicates`` holds the sorted 0-based file rows to reject as duplicate keys
        (:func:`~credit_grading.batch.keys.duplicate_rows`), or — ``keep_first`` only, the chunks
        graded in file order — the :class:`~credit_grading.batch.keys.SeenKeys` of the chunks before.
        The same as :meth:`validate` followed by :meth:`decide`.
        """
        return self.decide(table.num_rows, self.validate(offset, table, duplicates))

    def validate(self, offset: int, table: pa.Table, duplicates: np.ndarray | SeenKeys) -> ValidationResult:
        """The first half of :meth:`grade`: the chunk validated (a :class:`SeenKeys` is updated, so
        chunks are validated in file order)."""
        if isinstance(duplicates, SeenKeys):
            rows, seen = None, duplicates
        else:
            lo, hi = np.searchsorted(duplicates, [offset, offset + table.num_rows])
            rows, seen = duplicates[lo:hi] - offset, None
        return validate_table(table, self.schema, row_offset=offset, source=self.source, chunk=True,
                              duplicate_rows=rows, seen_keys=seen, keep_columns=self.needed)  # fmt: skip

    def decide(self, n_rows: int, res: ValidationResult) -> tuple[pa.Table, pd.DataFrame, dict]:
        """The second half of :meth:`grade`: the valid rows of a chunk of ``n_rows`` rows scored, graded,
        explained and put in the result table."""
        opts = self.options
        data = res.data
        ids = res.ids  # in the key's normal form (trimmed where the id format allows), as validation read them
        as_of = None
        if self.schema.as_of_column:
            as_of = pa.array(data[self.schema.as_of_column].to_numpy(dtype="datetime64[D]"), type=pa.date32())

        prev = prev_model = None
        grades = [*self.bundle.model.scale.grades, STATUS_M]
        if self.previous is not None:
            pos = self.previous.lookup(ids)
            prev = (PreviousGrades.codes(self.previous.grade, pos, grades),
                    PreviousGrades.codes(self.previous.tier, pos, list(TIER_CODES)))  # fmt: skip
            pm = PreviousGrades.codes(self.previous.model_grade, pos, grades)
            prev_model = np.where(pm >= 0, pm, -1)

        compiled = self.grader.compiled
        mode = opts.reasons_for.mode
        explain_all = opts.reasons and mode == "all"
        # Some rows explained (--reasons-for tiers/changed), known only once graded. A scorecard's
        # reasons cost little: every row's are computed and the others' blanked. A GBM's SHAP values
        # are computed for those rows only, from the feature matrix the scoring kept.
        plain = isinstance(compiled, CompiledModel)
        card_reasons = plain and opts.reasons and not explain_all and compiled.spec.champion == "scorecard"
        gbm_reasons = plain and opts.reasons and not explain_all and compiled.spec.champion == "gbm"
        extra = {"keep_matrix": True} if gbm_reasons else {}  # (sector models keep none)
        scores = compiled.score(data, reasons=opts.reasons if explain_all or card_reasons else 0,
                                challenger=opts.challenger, threads=self.threads, **extra)  # fmt: skip
        prev_names = None
        if prev_model is not None and self.rules.hysteresis_margin > 0:
            names = np.array([*self.bundle.model.scale.grades, None], dtype=object)
            prev_names = names[np.where(prev_model >= 0, prev_model, len(names) - 1)]
        if self.lists is not None:
            from credit_grading.lists import apply_memberships

            data = apply_memberships(data, self.lists, id_column=self.schema.id_column,
                                     as_of_column=self.schema.as_of_column)  # fmt: skip
        grading = self.rules.grade(data, scores.pd, previous_grade=prev_names)
        tier_codes = self.builder.tier_of_grade[grading.final_grade]
        explained = len(data) if explain_all else 0
        if opts.reasons and not explain_all:
            if mode == "tiers":
                want = np.isin(tier_codes, [TIER_CODES.index(t) for t in opts.reasons_for.tiers])
            else:  # changed: new entities and entities whose tier moved
                want = (prev[1] < 0) | (prev[1] != tier_codes)
            rows = np.flatnonzero(want)
            explained = len(rows)
            k = opts.reasons
            if card_reasons:
                scores.reason_index[~want] = -1
                scores.reason_value[~want] = 0.0
            elif plain:
                scores.reason_index, scores.reason_value, scores.reason_names = compiled.reasons_of_rows(
                    data, rows, k, scores, threads=self.threads
                )
            else:  # sector models: the rows scored again, each by its segment's model
                part = (compiled.score(data.iloc[rows], reasons=k, challenger=False, threads=self.threads)
                        if len(rows) else None)  # fmt: skip
                idx = np.full((len(data), k), -1, dtype=np.int16)
                val = np.zeros((len(data), k))
                if part is not None:
                    idx[rows] = part.reason_index
                    val[rows] = part.reason_value
                names = part.reason_names if part is not None else tuple(f.name for f in self.decider.features)
                scores.reason_index, scores.reason_value, scores.reason_names = idx, val, names
            scores.gbm_matrix = None
        out = self.builder.table(ids, as_of, scores, grading, prev)
        for c in opts.carry:  # registry items asked for beside the results (e.g. district)
            col = data[c]
            arr = pa.array(
                col.values if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy(), from_pandas=True
            )
            out = out.append_column(c, arr)

        tiers = np.bincount(tier_codes, minlength=len(TIER_CODES))
        stats = {
            "rows": n_rows,
            "graded": len(data),
            "rejected": res.rows_rejected,
            "explained": explained,
            "tiers": {t: int(c) for t, c in zip(TIER_CODES, tiers, strict=True)},
            "reject_reasons": res.reason_counts(),
        }
        if prev is not None:
            k = len(TIER_CODES)
            from_ = np.where(prev[1] >= 0, prev[1], k)  # row k: new entities
            m = np.zeros((k + 1, k), dtype=np.int64)
            np.add.at(m, (from_, tier_codes), 1)
            stats["migration"] = m.tolist()
        return out, res.rejects, stats


def _counts_missing(cond) -> bool:
    if cond.missing_at_least is not None:
        return True
    return any(_counts_missing(c) for c in (cond.all or ()) + (cond.any or ()))
