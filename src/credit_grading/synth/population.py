"""The static side of a synthetic registry: who the entities are.

Entity identity (USCC, name, legal representative, district, industry, type), age, size,
capital and a latent credit quality are drawn from the seed alone, so every snapshot made
with the same seed describes the same entities; the time-varying records are drawn per
snapshot in :mod:`credit_grading.synth.records`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.registry.uscc import make_usccs

# Beijing districts: level code, 6-digit division code, share of registered enterprises.
DISTRICTS = (
    ("dongcheng", "110101", 0.045), ("xicheng", "110102", 0.055), ("chaoyang", "110105", 0.190),
    ("fengtai", "110106", 0.080), ("shijingshan", "110107", 0.025), ("haidian", "110108", 0.170),
    ("mentougou", "110109", 0.015), ("fangshan", "110111", 0.040), ("tongzhou", "110112", 0.075),
    ("shunyi", "110113", 0.060), ("changping", "110114", 0.070), ("daxing", "110115", 0.070),
    ("huairou", "110116", 0.020), ("pinggu", "110117", 0.015), ("miyun", "110118", 0.015),
    ("yanqing", "110119", 0.055),
)  # fmt: skip

# GB/T 4754 sections and their shares of enterprises in a large city.
INDUSTRIES = (
    ("A", 0.006), ("B", 0.001), ("C", 0.060), ("D", 0.004), ("E", 0.055), ("F", 0.250),
    ("G", 0.040), ("H", 0.050), ("I", 0.120), ("J", 0.020), ("K", 0.040), ("L", 0.140),
    ("M", 0.100), ("N", 0.010), ("O", 0.050), ("P", 0.012), ("Q", 0.010), ("R", 0.030),
    ("S", 0.0018), ("T", 0.0002),
)  # fmt: skip

ENTERPRISE_TYPES = (
    ("llc", 0.775), ("joint_stock", 0.020), ("sole_proprietorship", 0.050), ("partnership", 0.040),
    ("state_owned", 0.010), ("collective", 0.005), ("foreign_invested", 0.030), ("branch", 0.070),
)  # fmt: skip

SIZE_CLASSES = ("micro", "small", "medium", "large")

_NAME_WORDS = tuple("华盛达兴隆泰安和信宏远鑫源瑞祥嘉恒通汇博创卓越中科金辉天宇新未来恒星东方京城北辰永丰立德诚明")
_INDUSTRY_WORDS = {
    "A": "农业发展", "B": "矿业", "C": "制造", "D": "能源", "E": "建筑工程", "F": "商贸",
    "G": "物流", "H": "餐饮管理", "I": "信息技术", "J": "投资管理", "K": "房地产开发",
    "L": "商务服务", "M": "科技", "N": "环境工程", "O": "家政服务", "P": "教育咨询",
    "Q": "医疗管理", "R": "文化传媒", "S": "社会服务", "T": "国际交流",
}  # fmt: skip
_TYPE_SUFFIX = {
    "llc": "有限公司", "joint_stock": "股份有限公司", "sole_proprietorship": "商行",
    "partnership": "企业（有限合伙）", "state_owned": "总公司", "collective": "集体企业",
    "foreign_invested": "有限公司", "branch": "有限公司分公司",
}  # fmt: skip
_SURNAMES = tuple(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
)
_GIVEN = tuple("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰文辉鹏宇浩然子涵欣怡梓轩晨阳")
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


@dataclass(frozen=True)
class Population:
    """Static attributes of the synthetic entities (one array per attribute)."""

    uscc: pa.Array
    enterprise_name: pa.Array
    legal_rep_name: pa.Array
    legal_rep_id_number: pa.Array
    district: np.ndarray  # level index into DISTRICTS
    industry: np.ndarray  # level index into INDUSTRIES
    enterprise_type: np.ndarray  # level index into ENTERPRISE_TYPES
    age_years: np.ndarray  # years between establishment and the snapshot date
    size_class: np.ndarray  # index into SIZE_CLASSES
    size_known: np.ndarray  # bool: size class recorded
    staff: np.ndarray  # underlying headcount
    capital: np.ndarray  # registered capital, 万元
    capital_declared: np.ndarray  # bool
    quality: np.ndarray  # latent credit quality, N(0, 1); higher is riskier

    @property
    def n(self) -> int:
        return len(self.district)


def _choice(rng: np.random.Generator, table: tuple, n: int) -> np.ndarray:
    p = np.array([row[-1] for row in table], dtype=np.float64)
    return rng.choice(len(table), size=n, p=p / p.sum()).astype(np.int32)


def _pick_text(words: tuple[str, ...] | list[str], idx: np.ndarray) -> pa.Array:
    return pa.array(words, type=pa.string()).take(pa.array(idx))


def _id_numbers(rng: np.random.Generator, division: np.ndarray, n: int) -> pa.Array:
    """Resident ID numbers (GB 11643 layout and check) for synthetic legal representatives."""
    digits = np.empty((n, 17), dtype=np.int64)
    digits[:, :6] = np.frombuffer(np.asarray(division, dtype="S6").tobytes(), np.uint8).reshape(n, 6) - ord("0")
    year = rng.integers(1955, 2001, n)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    date = year * 10000 + month * 100 + day
    digits[:, 6:14] = (date[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    digits[:, 14:17] = (rng.integers(0, 1000, n)[:, None] // 10 ** np.arange(2, -1, -1)) % 10
    check = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]
    raw = np.empty((n, 18), dtype=np.uint8)
    raw[:, :17] = digits + ord("0")
    raw[:, 17] = check
    offsets = np.arange(0, 18 * n + 1, 18, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw.tobytes())])


def draw_population(n: int, seed: int) -> Population:
    """Draw ``n`` entities from ``seed`` (independent of the snapshot date)."""
    rng = np.random.default_rng([seed, 0x5EED])
    district = _choice(rng, DISTRICTS, n)
    industry = _choice(rng, INDUSTRIES, n)
    etype = _choice(rng, ENTERPRISE_TYPES, n)
    quality = rng.standard_normal(n)

    # Many young firms, a long tail of old ones (gamma ages, capped).
    age = np.minimum(rng.gamma(1.1, 6.0, n) + rng.random(n) * 0.05, 70.0)
    state_like = np.isin(etype, [4, 5])  # state-owned and collective enterprises are older
    age[state_like] += rng.gamma(4.0, 5.0, int(state_like.sum()))
    # Whole days, so the age derived from the written establishment date equals this one.
    age = np.floor(np.minimum(age, 75.0) * 365.25) / 365.25

    # Headcount: log-normal, larger for older firms, joint-stock and state-owned ones.
    type_boost = np.array([0.0, 1.6, -0.8, -0.4, 1.8, 0.8, 1.0, 0.3])[etype]
    log_staff = 1.3 + 0.35 * np.log1p(age) + type_boost - 0.25 * quality + rng.normal(0, 1.1, n)
    staff = np.floor(np.exp(log_staff)).astype(np.int64)
    size = np.digitize(staff, [10, 100, 300]).astype(np.int32)
    size_known = rng.random(n) > 0.04

    # Registered capital in 万元: heavy-tailed, tied to size; some firms declare none.
    log_cap = 3.6 + 0.55 * np.log1p(staff) + rng.normal(0, 1.3, n)
    pareto = rng.random(n) < 0.02
    log_cap[pareto] += rng.pareto(1.2, int(pareto.sum()))
    capital = np.round(np.exp(np.minimum(log_cap, np.log(9.0e6))), 2)
    capital_declared = rng.random(n) > 0.03

    # Identity. Codes issued since 2015 carry an "MA" organisation code.
    div_codes = np.array([d[1] for d in DISTRICTS], dtype="S6")[district]
    # Registration authority 9 (market regulation), entity type 1 (enterprise).
    uscc = make_usccs("9", "1", div_codes, rng, new_style=age < 10.5)
    w1, w2 = rng.integers(0, len(_NAME_WORDS), n), rng.integers(0, len(_NAME_WORDS), n)
    ind_word = np.array(list(_INDUSTRY_WORDS.values()), dtype=object)
    suffix = np.array([_TYPE_SUFFIX[t[0]] for t in ENTERPRISE_TYPES], dtype=object)
    name = pc.binary_join_element_wise(
        pa.array(["北京"] * 1, pa.string()).take(pa.array(np.zeros(n, dtype=np.int32))),
        _pick_text(_NAME_WORDS, w1),
        _pick_text(_NAME_WORDS, w2),
        _pick_text(list(ind_word), industry),
        _pick_text(list(suffix), etype),
        "",
    )
    given2 = rng.random(n) < 0.6
    rep = pc.binary_join_element_wise(
        _pick_text(_SURNAMES, rng.integers(0, len(_SURNAMES), n)),
        _pick_text(_GIVEN, rng.integers(0, len(_GIVEN), n)),
        pc.if_else(pa.array(given2), _pick_text(_GIVEN, rng.integers(0, len(_GIVEN), n)), ""),
        "",
    )
    rep_missing = pa.array(rng.random(n) < 0.015)
    rep = pc.if_else(rep_missing, pa.nulls(n, pa.string()), rep)
    ids = pc.if_else(rep_missing, pa.nulls(n, pa.string()), _id_numbers(rng, div_codes, n))

    return Population(
        uscc=uscc,
        enterprise_name=name,
        legal_rep_name=rep,
        legal_rep_id_number=ids,
        district=district,
        industry=industry,
        enterprise_type=etype,
        age_years=age,
        size_class=size,
        size_known=size_known,
        staff=staff,
        capital=capital,
        capital_declared=capital_declared,
        quality=quality,
    )
