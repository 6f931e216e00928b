"""A bundle as one SQL ``SELECT``: points, PDs, grades, tiers, override rules and reasons.

The query reads a registry table with the catalogue's columns (numbers as numbers, category
codes as text) and returns, per row, the id and as-of columns, each scorecard feature's points
(``points_<feature>``) and their total ``score``, the PDs (``pd_scorecard``, ``pd_gbm`` and the
champion's ``pd``), ``model_grade``/``model_tier``, the hard override rules' ``grade``, ``tier``,
``override``, ``override_reason`` and ``rules_matched``, and the top-k ``reason_j`` with their
``reason_j_value`` — the numbers the engine computes (:mod:`credit_grading.engine`), with its rules:

* bins ``[lower, upper)`` (a value reaching a split goes up; ±inf to the outer bins), a special
  code or a missing value (NULL; NaN in DuckDB and PostgreSQL) to its own bin, a category level
  never seen in training to the unseen points;
* the GBM (trees of depth at most :data:`MAX_TREE_DEPTH`) through the engine's cell tables
  (:mod:`credit_grading.export.gbm_sql`), with its exact TreeSHAP reasons;
* Platt calibration in closed form, isotonic as its piecewise-linear steps (``np.interp``);
* grade ``i`` holds PDs in ``(cutoffs[i-1], cutoffs[i]]``; the override rules in order, the
  last rule that changed a row naming it (:class:`~credit_grading.grading.grader.Grader`);
* reasons most adverse first, ties to the feature listed first, only positive shortfalls.

Hysteresis (it needs last month's grades) and manual overrides (a file) are not part of the
query: it grades as the engine does without a previous grading or manual overrides.

It is one ``WITH … SELECT``: a chain of steps, each adding columns to the one before (no joins,
window functions or user functions), so one row in gives one row out and a database can run it
in parallel. Reasons use the dialect's many-argument maximum (``GREATEST``; SQLite's ``max``), or
in ANSI SQL, which has none, a count of the candidates ranked before each one. SQLite needs its
math functions (``exp``; built into Python's ``sqlite3``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from credit_grading.bundle import Bundle
from credit_grading.catalogue import ItemType
from credit_grading.config.grading import Condition
from credit_grading.exceptions import BundleError, ConfigError
from credit_grading.export._common import identity_lines, refuse_segments, write_output
from credit_grading.export._sqlbase import DIALECTS, Dialect, Layers, case, dialect, flag, ident
from credit_grading.grading.grader import Grader
from credit_grading.grading.result_schema import TIER_CODES, grade_labels, override_labels, tier_of_grade
from credit_grading.specs.binning import MISSING, SPECIAL, UNSEEN
from credit_grading.specs.calibration import CalibrationSpec

__all__ = ["DIALECTS", "MAX_TREE_DEPTH", "export_sql", "sql_text"]

MAX_TREE_DEPTH = 2  # the default GBM's depth; deeper trees make the cell tables (and the SQL) grow fast
EXP_LIMIT = 700.0  # exp() of more overflows in some databases; the PD is clipped long before


class _Query:
    def __init__(self, bundle: Bundle, d: Dialect, reasons: int, max_depth: int) -> None:
        self.bundle, self.model, self.d = bundle, bundle.model, d
        if self.model.scale is None:
            raise BundleError(f"model {self.model.name!r} has no grade scale; train it with grading enabled")
        self.k_reasons = max(0, int(reasons))
        self.max_depth = max_depth
        self.kinds: dict[str, str] = {}  # input column → "num" | "cat"
        self._collect_inputs()
        self.inputs = {name: ident(f"_cg_in{i}") for i, name in enumerate(self.kinds)}

    # ------------------------------------------------------------------ inputs
    def _need(self, name: str, kind: str) -> None:
        if self.kinds.get(name, kind) != kind:
            raise BundleError(f"column {name!r} is read both as a number and as a category; it cannot be exported")
        self.kinds[name] = kind

    def _item_kind(self, item: str, rule: str) -> str:
        if item.startswith("list:"):
            raise ConfigError(
                f"override rule {rule!r} reads list {item.removeprefix('list:')!r}, whose dated memberships are joined "
                "at grading time (--lists); the exported SQL cannot hold that join: export a model without the rule"
            )
        cat = self.bundle.catalogue
        if item in cat:
            return "cat" if cat.item(item).type is ItemType.CATEGORICAL else "num"
        if item in self.kinds:
            return self.kinds[item]
        raise ConfigError(f"override rule {rule!r} tests item {item!r}, which the bundle's catalogue does not have")

    def _collect_inputs(self) -> None:
        m = self.model
        if m.scorecard is not None:
            for f in m.scorecard.features:
                self._need(f.name, "cat" if f.binning.kind == "categorical" else "num")
        if m.gbm is not None and m.champion == "gbm":
            for f in m.gbm.features:
                self._need(f.name, "cat" if f.kind == "categorical" else "num")
        for r in m.overrides:
            for item in sorted(r.when.items()):
                self._need(item, self._item_kind(item, r.id))
            if _uses_missing_count(r.when):
                for f in self._decider_features():
                    self._need(f, self.kinds.get(f, "num"))

    def _decider_features(self) -> list[str]:
        return [f.name for f in self.model.decider.features]

    def _input_columns(self, as_of_column: str | None) -> list[tuple[str, str]]:
        d, cat = self.d, self.bundle.catalogue
        out = []
        for i, (name, kind) in enumerate(self.kinds.items()):
            base = cat.item(name).derived_from if name in cat else None
            if base:
                if not as_of_column:
                    raise BundleError(f"item {name!r} is derived from {base!r} and the as-of date, which this model's "
                                      "dataset does not name (dataset.as_of_column)")  # fmt: skip
                out.append((f"_cg_in{i}", d.years_between(base, as_of_column)))
            else:
                out.append((f"_cg_in{i}", d.text_input(name) if kind == "cat" else d.numeric_input(name)))
        return out

    # ------------------------------------------------------------------ scorecard
    def _points_expr(self, feature) -> str:
        d, b = self.d, feature.binning
        lut = feature.slot_points()
        r = b.n_regular
        col = self.inputs[feature.name]
        if b.kind == "categorical":
            branches = [(f"{col} IS NULL", d.num(lut[r + MISSING]))]
            for i, group in enumerate(b.groups):
                if group:
                    branches.append((f"{col} IN ({', '.join(d.str_(lv) for lv in group)})", d.num(lut[i])))
            return case(branches, d.num(lut[r + UNSEEN]))
        splits = list(b.splits)
        if any(a >= c for a, c in itertools.pairwise(splits)):
            raise BundleError(f"the splits of feature {feature.name!r} do not increase; it cannot be exported")
        branches = [(f"{col} IS NULL", d.num(lut[r + MISSING]))]
        if b.special_codes:
            codes = ", ".join(d.num(c) for c in b.special_codes)
            branches.append((f"{col} IN ({codes})", d.num(lut[r + SPECIAL])))
        for i, s in enumerate(splits):
            branches.append((f"{col} < {d.num(s)}", d.num(lut[i])))
        return case(branches, d.num(lut[len(splits)]))

    # ------------------------------------------------------------------ calibration
    def _calibration(self, key: str, source: str) -> list[list[tuple[str, str]]]:
        """Layers computing ``pd_<key>`` from the column ``source``."""
        cal: CalibrationSpec = self.model.calibration[key]
        d = self.d
        x = f"({d.num(cal.direction)} * {ident(source)})"
        lo, hi = cal.min_pd, 1.0 - cal.min_pd
        raw = ident(f"_cg_raw_{key}")
        if cal.method == "platt":
            z = ident(f"_cg_z_{key}")
            sigmoid = f"{d.num(1.0)} / ({d.num(1.0)} + EXP(-{z}))"
            steps = [
                [(f"_cg_z_{key}", f"{d.num(cal.a)} * {x} + {d.num(cal.b)}")],
                [(f"_cg_raw_{key}", f"CASE WHEN {z} < {d.num(-EXP_LIMIT)} THEN {d.num(0.0)} ELSE {sigmoid} END")],
            ]
        elif cal.method == "isotonic":
            kx, ky = list(cal.knots_x), list(cal.knots_y)
            xc = ident(f"_cg_x_{key}")
            branches = [(f"{xc} <= {d.num(kx[0])}", d.num(ky[0]))]
            for j in range(len(kx) - 1):
                if kx[j + 1] <= kx[j]:
                    continue
                slope = (ky[j + 1] - ky[j]) / (kx[j + 1] - kx[j])
                branches.append(
                    (f"{xc} < {d.num(kx[j + 1])}", f"{d.num(slope)} * ({xc} - {d.num(kx[j])}) + {d.num(ky[j])}")
                )
            steps = [[(f"_cg_x_{key}", x)], [(f"_cg_raw_{key}", case(branches, d.num(ky[-1])))]]
        else:
            raise BundleError(f"calibration method {cal.method!r} cannot be exported")
        clip = (
            f"CASE WHEN {raw} < {d.num(lo)} THEN {d.num(lo)} WHEN {raw} > {d.num(hi)} THEN {d.num(hi)} ELSE {raw} END"
        )
        return [*steps, [(f"pd_{key}", clip)]]

    # ------------------------------------------------------------------ rules
    def _predicate(self, c: Condition, rule: str) -> str:
        d = self.d
        if getattr(c, "list", None) is not None:  # the {list: name} form, where the config has it
            self._item_kind(f"list:{c.list}", rule)
        if c.all is not None:
            return "(" + " AND ".join(self._predicate(x, rule) for x in c.all) + ")"
        if c.any is not None:
            return "(" + " OR ".join(self._predicate(x, rule) for x in c.any) + ")"
        if c.missing_at_least is not None:
            count = " + ".join(flag(f"{self.inputs[f]} IS NULL") for f in self._decider_features())
            return f"(({count}) >= {int(c.missing_at_least)})"
        col = self.inputs[c.item]
        (op,) = c.ops
        value = getattr(c, op)
        if op == "missing":
            return f"({col} IS NULL)" if value else f"({col} IS NOT NULL)"
        if self.kinds[c.item] == "cat":
            if op not in ("eq", "ne", "in_"):
                raise ConfigError(f"override rule {rule!r}: categorical item {c.item!r} cannot be compared with {op}")
            levels = self._levels(c.item, value if op == "in_" else [value], rule)
            test = f"{col} IN ({', '.join(d.str_(v) for v in levels)})"
            return f"({col} IS NOT NULL AND NOT ({test}))" if op == "ne" else f"({col} IS NOT NULL AND {test})"
        if op == "in_":
            nums = ", ".join(d.num(_number(v, c.item, rule)) for v in value)
            return f"({col} IS NOT NULL AND {col} IN ({nums}))"
        sym = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
        return f"({col} IS NOT NULL AND {col} {sym} {d.num(_number(value, c.item, rule))})"

    def _levels(self, item: str, values, rule: str) -> list[str]:
        cat = self.bundle.catalogue
        known = list(cat.item(item).level_codes) if item in cat else None
        out = []
        for v in values:
            if known is not None and str(v) not in known:
                raise ConfigError(f"override rule {rule!r}: item {item!r} has no level {v!r}; its levels are {known}")
            out.append(str(v))
        return out

    def _rule_layers(self) -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]], str, str]:
        """Rule masks (one layer), then one layer per rule moving the state (``Grader.grade``; its
        actions, as the grader resolves them for this scale); and the final state and decider."""
        m = self.model
        grader = Grader(m.scale, m.overrides, features=tuple(self._decider_features()))
        k = m.scale.n_grades
        masks = [(f"_cg_m{i}", flag(self._predicate(r.when, r.id))) for i, r in enumerate(m.overrides)]
        layers = []
        model = ident("_cg_g0")
        state, decided = model, "-1"
        for i, (kind, lo, hi) in enumerate(grader._actions):
            s = state
            if kind == "status":
                new = str(k)
            elif kind == "into":
                new = f"CASE WHEN {s} = {k} THEN {_clip(model, lo, hi)} ELSE {_clip(s, lo, hi)} END"
            else:
                new = f"CASE WHEN {s} = {k} THEN {k} WHEN {s} < {lo} THEN {lo} ELSE {s} END"
            mask = ident(f"_cg_m{i}")
            layers.append(
                [
                    (f"_cg_s{i + 1}", f"CASE WHEN {mask} = 1 THEN {new} ELSE {s} END"),
                    (f"_cg_d{i + 1}", f"CASE WHEN {mask} = 1 AND ({new}) <> {s} THEN {i} ELSE {decided} END"),
                ]
            )
            state, decided = ident(f"_cg_s{i + 1}"), ident(f"_cg_d{i + 1}")
        return masks, layers, state, decided

    # ------------------------------------------------------------------ reasons
    def _rank_columns(self, scores: list[str]) -> list[tuple[str, str]]:
        """Per candidate f: how many candidates come before it (larger, or equal and listed first)."""
        out = []
        for f, sf in enumerate(scores):
            terms = [flag(f"{sg} {'>=' if g < f else '>'} {sf}") for g, sg in enumerate(scores) if g != f]
            out.append((f"_cg_rank{f}", " + ".join(terms) if terms else "0"))
        return out

    def _top_layers(self, scores: list[str], k: int) -> list[list[tuple[str, str]]]:
        """Reason j by the many-argument maximum: ``_cg_top<j>``, the largest candidate not yet
        chosen (chosen ones count as 0), then ``_cg_i<j>``, the first candidate equal to it
        (-1 when it is not positive). O(k·n) work per row instead of the ranks' O(n²)."""
        layers = []
        chosen: list[str] = []
        for j in range(1, k + 1):
            before = ", ".join(chosen)
            args = [
                s if not chosen else f"CASE WHEN {f} IN ({before}) THEN 0 ELSE {s} END" for f, s in enumerate(scores)
            ]
            top = ident(f"_cg_top{j}")
            layers.append([(f"_cg_top{j}", f"{self.d.greatest}({', '.join(args)})" if len(args) > 1 else args[0])])
            pick = [
                (f"{s} = {top}" + (f" AND {f} NOT IN ({before})" if chosen else ""), str(f))
                for f, s in enumerate(scores)
            ]
            layers.append([(f"_cg_i{j}", case([(f"{top} <= 0", "-1"), *pick], "-1"))])
            chosen.append(ident(f"_cg_i{j}"))
        return layers

    def _top_columns(self, names: list[str], k: int) -> list[tuple[str, str]]:
        out = []
        for j in range(1, k + 1):
            i, top = ident(f"_cg_i{j}"), ident(f"_cg_top{j}")
            out.append((f"reason_{j}", case([(f"{i} = {f}", self.d.str_(n)) for f, n in enumerate(names)], None)))
            out.append((f"reason_{j}_value", f"CASE WHEN {i} >= 0 THEN {top} ELSE NULL END"))
        return out

    def _use_greatest(self, n_candidates: int) -> bool:
        return self.d.greatest is not None and 1 < n_candidates <= 100

    def _reason_columns(self, names: list[str], scores: list[str], k: int) -> list[tuple[str, str]]:
        if self._use_greatest(len(scores)):
            return self._top_columns(names, k)
        out = []
        for j in range(k):
            hits = [(f"{s} > 0 AND {ident(f'_cg_rank{f}')} = {j}", f) for f, s in enumerate(scores)]
            out.append((f"reason_{j + 1}", case([(c, self.d.str_(names[f])) for c, f in hits], None)))
            out.append((f"reason_{j + 1}_value", case([(c, scores[f]) for c, f in hits], None)))
        return out

    # ------------------------------------------------------------------ the query
    def build(self, table: str, id_column: str | None, as_of_column: str | None) -> str:
        m, d = self.model, self.d
        layers = Layers(table, self._input_columns(as_of_column), d.fence)
        step2: list[tuple[str, str]] = []
        step3: list[tuple[str, str]] = []
        card = m.scorecard
        if card is not None:
            for f in card.features:
                step2.append((f"points_{f.name}", self._points_expr(f)))
            step3.append(("score", " + ".join(ident(f"points_{f.name}") for f in card.features) or d.num(0.0)))
        gbm_sql = None
        if m.gbm is not None and m.champion == "gbm":
            from credit_grading.export.gbm_sql import GbmSql

            gbm_sql = GbmSql(m.gbm, d, self.inputs, self.max_depth)
            bins = gbm_sql.bin_columns()
            if bins:
                layers.add(bins)  # the cells read the bins
            step2 += gbm_sql.cell_columns()
        masks, rule_layers, state, decided = self._rule_layers()
        step2 += masks
        layers.add(step2)
        # the scorecard's shortfalls or the GBM's SHAP values: the reason candidates
        names: list[str] = []
        scores: list[str] = []
        if gbm_sql is not None:
            sums, names = gbm_sql.sum_columns()
            step3 += sums
            scores = [ident(c) for c, _ in sums[1:]]
        elif card is not None:
            for j, f in enumerate(card.features):
                step3.append((f"_cg_short{j}", f"{d.num(f.max_points)} - {ident(f'points_{f.name}')}"))
            names = list(card.feature_names)
            scores = [ident(f"_cg_short{j}") for j in range(len(names))]
        layers.add(step3)
        cal_layers: list[list[tuple[str, str]]] = []
        pd_cols = []
        for key, source in (("scorecard", "score"), ("gbm", "_cg_margin")):
            model_present = card is not None if key == "scorecard" else gbm_sql is not None
            if key in m.calibration and model_present:
                cal_layers.append(self._calibration(key, source))
                pd_cols.append(f"pd_{key}")
        for step in range(max((len(c) for c in cal_layers), default=0)):
            layers.add([col for c in cal_layers if step < len(c) for col in c[step]])
        champion_pd = ident(f"pd_{m.champion}")
        cutoffs = m.scale.cutoffs
        grade = case([(f"{champion_pd} <= {d.num(c)}", str(i)) for i, c in enumerate(cutoffs)], str(len(cutoffs)))
        k = min(self.k_reasons, len(scores))
        ranks = k and not self._use_greatest(len(scores))
        layers.add([("_cg_g0", grade), *(self._rank_columns(scores) if ranks else [])])
        if k and not ranks:
            for layer in self._top_layers(scores, k):
                layers.add(layer)
        for layer in rule_layers:
            layers.add(layer)
        return layers.final(self._outputs(id_column, as_of_column, pd_cols, names, scores, k, state, decided))

    def _outputs(self, id_column, as_of_column, pd_cols, names, scores, k, state, decided) -> list[tuple[str, str]]:
        m, d = self.model, self.d
        out: list[tuple[str, str]] = []
        for c in (id_column, as_of_column):
            if c:
                out.append((c, ident(c)))
        if m.scorecard is not None:
            out.append(("score", ident("score")))
        out.append(("pd", ident(f"pd_{m.champion}")))
        out += [(c, ident(c)) for c in pd_cols]
        labels = grade_labels(m.scale.grades)
        tiers = tier_of_grade(m.scale.tiers)

        def label(col: str, texts: list[str]) -> str:
            return case([(f"{col} = {i}", d.str_(t)) for i, t in enumerate(texts)], None)

        model = ident("_cg_g0")
        out.append(("model_grade", label(model, labels)))
        out.append(("model_tier", label(model, [TIER_CODES[t] for t in tiers])))
        out.append(("grade", label(state, labels)))
        out.append(("tier", label(state, [TIER_CODES[t] for t in tiers])))
        ids, reasons = override_labels(m.overrides)
        n_rules = len(m.overrides)
        out.append(("override", label(decided, ids[:n_rules])))
        out.append(("override_reason", label(decided, reasons[:n_rules])))
        out.append(("rules_matched", self._matched_text()))
        out += self._reason_columns(names, scores, k)
        out.append(("model_name", d.str_(m.name)))
        out.append(("model_version", d.str_(m.version)))
        if m.scorecard is not None:
            out += [(f"points_{f.name}", ident(f"points_{f.name}")) for f in m.scorecard.features]
        return out

    def _matched_text(self) -> str:
        rules = self.model.overrides
        if not rules:
            return self.d.str_("")
        parts = []
        for i, r in enumerate(rules):
            before = " + ".join(ident(f"_cg_m{j}") for j in range(i))
            sep = f"CASE WHEN {before} > 0 THEN ';' ELSE '' END || " if i else ""
            parts.append(f"CASE WHEN {ident(f'_cg_m{i}')} = 1 THEN {sep}{self.d.str_(r.id)} ELSE '' END")
        return " || ".join(f"({p})" for p in parts)


def _clip(x: str, lo: int, hi: int) -> str:
    return f"CASE WHEN {x} < {lo} THEN {lo} WHEN {x} > {hi} THEN {hi} ELSE {x} END"


def _number(v, item: str, rule: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"override rule {rule!r}: {item} compared with {v!r} needs a number") from None


def _uses_missing_count(c: Condition) -> bool:
    if c.missing_at_least is not None:
        return True
    return any(_uses_missing_count(x) for x in (c.all or ()) + (c.any or ()))


def sql_text(
    bundle: Bundle,
    *,
    dialect_name: str = "sqlite",
    table: str = "registry",
    view: str | None = None,
    reasons: int = 3,
    max_depth: int = MAX_TREE_DEPTH,
) -> str:
    """The SQL of ``bundle`` for ``dialect_name``, reading ``table`` (a name, quoted for you).

    With ``view`` the file creates that view; otherwise it is one ``SELECT``.
    """
    refuse_segments(bundle, "SQL")
    d = dialect(dialect_name)
    if not str(table).strip():
        raise ConfigError("--table must name the registry table")
    dataset = bundle.config.get("dataset", {}) if isinstance(bundle.config, dict) else {}
    id_column = dataset.get("id_column")
    as_of_column = dataset.get("as_of_column")
    q = _Query(bundle, d, reasons, max_depth)
    body = q.build(".".join(ident(p) for p in str(table).split(".")), id_column, as_of_column)
    head = identity_lines(bundle, f"SQL ({d.name}) scoring")
    head += [
        f"reads table {table}: one row per entity with the catalogue's columns (numbers as numbers, category codes as text);",
        "missing is NULL" + (" or NaN" if d.nan_is_null else "") + "; one output row per input row.",
        "Hysteresis and manual overrides are not applied (they need last month's grades and an overrides file).",
    ]
    comment = "\n".join(f"-- {line}" for line in head)
    if view:
        return f"{comment}\nCREATE VIEW {ident(view)} AS\n{body};\n"
    return f"{comment}\n{body};\n"


def export_sql(
    bundle: Bundle,
    out: Path | str,
    *,
    dialect_name: str = "sqlite",
    table: str = "registry",
    view: str | None = None,
    reasons: int = 3,
    overwrite: bool = False,
) -> Path:
    """Write the SQL of ``bundle`` to ``out`` (atomically; an existing file only with ``overwrite``)."""
    text = sql_text(bundle, dialect_name=dialect_name, table=table, view=view, reasons=reasons)
    return write_output(out, text, overwrite=overwrite)
