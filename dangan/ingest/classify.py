"""Category suggestion (自动分类): which 类别 of the scheme a new record belongs to.

Two sources of evidence, combined:

(a) the scheme's per-category keywords (``scheme.toml``): available from day one, so a
    fresh installation suggests something sensible before anyone has classified a record
    (cold start = keywords only);
(b) a multinomial naive Bayes model over character 1–3-grams (Chinese has no spaces;
    character n-grams capture 电梯, 维修工单, 报修时间 without a word segmenter), learning
    from records archivists have classified or corrected. The title counts several times
    over, because a title such as 装修验收单 says more than any sentence of the body.

Naive Bayes posteriors are absurdly overconfident on long texts, so raw log-scores are
divided by a temperature, and the keyword distribution is mixed in with a weight; both
are fitted on a held-out share of the training data when the model is trained. The
resulting confidence is "calibrated-ish": among suggestions at 0.9, roughly nine in ten
are right on data like the training data.

Below `Classifier.threshold` (a setting; default 0.6) the caller must not guess: the
record goes to the 待分类 queue (`Suggestion.needs_review`).

The model serialises to JSON (`to_json` / `from_json`) — never pickle, since model files
may be exchanged between installations and unpickling runs code.
"""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Protocol

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "CategoryLike", "Classifier", "Suggestion", "normalise_text"]

DEFAULT_THRESHOLD = 0.6
DEFAULT_TEMPERATURE = 8.0
_FORMAT = "dangan.classifier/1"


class CategoryLike(Protocol):
    """What the classifier needs from a scheme category (`dangan.archive.scheme.Category`)."""

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def keywords(self) -> tuple[str, ...]: ...  # read-only: frozen dataclasses satisfy it


@dataclass(frozen=True)
class _Cat:
    key: str
    name: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Suggestion:
    """A suggested category with a confidence in 0..1 and the runners-up.

    `needs_review` is True when the confidence is below the classifier's threshold: the
    record then waits in the 待分类 queue for an archivist instead of being filed.
    `source` says what the suggestion rests on: "model" (trained model and keywords),
    "keywords" (cold start) or "none" (no evidence at all).
    """

    category: str
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    needs_review: bool = False
    source: str = "model"


# --------------------------------------------------------------------------- text → features

_T2S: Any = None
_T2S_READY = False


def _t2s(text: str) -> str:
    global _T2S, _T2S_READY
    if not _T2S_READY:
        try:
            import opencc

            _T2S = opencc.OpenCC("t2s")
        except Exception:  # pragma: no cover - opencc is a declared dependency
            _T2S = None
        _T2S_READY = True
    return _T2S.convert(text) if _T2S is not None else text


_DIGITS = re.compile(r"[0-9]+")
_SPLIT = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


def normalise_text(text: str) -> str:
    """Fold what should not matter: width (ＡＢ１ → AB1), case, script (業主 → 业主), digits."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = _t2s(t)
    return _DIGITS.sub("0", t)


def _ngrams(text: str, n_max: int) -> list[str]:
    """Character 1..n_max-grams within runs of CJK/letters/digits (never across punctuation)."""
    out: list[str] = []
    for run in _SPLIT.split(text):
        n_run = len(run)
        for n in range(1, min(n_max, n_run) + 1):
            out.extend([run[i:i + n] for i in range(n_run - n + 1)])
    return out


# --------------------------------------------------------------------------- classifier


class Classifier:
    """Keyword prior plus naive Bayes over character n-grams; see the module docstring.

    Typical use::

        clf = Classifier.from_scheme(load_scheme())
        clf.train((r.text, r.title, r.category) for r in confirmed_records)
        s = clf.predict(text, title)
        if s.needs_review: queue_for_review(...)
        clf.learn((text, title, corrected_category))   # an archivist's correction
    """

    def __init__(self, categories: Sequence[CategoryLike], threshold: float = DEFAULT_THRESHOLD,
                 *, ngram_max: int = 3, title_weight: int = 3, alpha: float = 0.02,
                 keyword_beta: float = 1.2) -> None:
        if not categories:
            raise ValueError("分类器至少需要一个类别")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"分类阈值应在 0 到 1 之间，实际为 {threshold}")
        self.categories: tuple[_Cat, ...] = tuple(
            _Cat(c.key, c.name, tuple(c.keywords)) for c in categories)
        self.keys: tuple[str, ...] = tuple(c.key for c in self.categories)
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("类别 key 重复")
        self._index = {k: i for i, k in enumerate(self.keys)}
        self.threshold = threshold
        self.ngram_max = ngram_max
        self.title_weight = title_weight
        self.alpha = alpha
        self.keyword_beta = keyword_beta
        # model state: feature → row; counts[row, category]; per-category totals and docs
        self._vocab: dict[str, int] = {}
        self._counts = np.zeros((0, len(self.keys)), dtype=np.float64)
        self._n_rows = 0
        self._totals = np.zeros(len(self.keys), dtype=np.float64)
        self._docs = np.zeros(len(self.keys), dtype=np.float64)
        # calibration (fitted in train): model temperature, keyword weight, and a monotone
        # map (isotonic regression: margins, probabilities) from the top-two margin to the
        # probability of being right.
        # The defaults are what the fit gives on corpora of a few thousand records, so a
        # model trained on too few records to calibrate is not wildly overconfident.
        self.temperature = DEFAULT_TEMPERATURE
        self.keyword_weight = 1.0
        self.isotonic: tuple[list[float], list[float]] | None = None
        self._logp: np.ndarray | None = None  # cached log θ, invalidated by learning
        self._kw = self._compile_keywords()

    @classmethod
    def from_scheme(cls, scheme: Any = None, threshold: float = DEFAULT_THRESHOLD, **kw: Any) -> Classifier:
        """A classifier over the scheme's categories (the packaged default when None)."""
        if scheme is None:
            from dangan.archive.scheme import load_scheme

            scheme = load_scheme()
        return cls(scheme.categories, threshold, **kw)

    # ------------------------------------------------------------------ keywords

    def _compile_keywords(self) -> list[list[tuple[str, float]]]:
        out = []
        for c in self.categories:
            words = {normalise_text(w) for w in (*c.keywords, c.name) if w}
            # longer keywords are more specific: 装修验收 says more than 装修
            out.append([(w, min(len(w), 6) / 2.0) for w in sorted(words)])
        return out

    def keyword_scores(self, text: str, title: str | None = None, *, normalised: bool = False) -> np.ndarray:
        """Per-category keyword evidence: weighted distinct hits in the text, title hits ×3."""
        body = text if normalised else normalise_text(text)
        head = (title if normalised else normalise_text(title)) if title else ""
        scores = np.zeros(len(self.keys))
        for i, words in enumerate(self._kw):
            s = 0.0
            for w, weight in words:
                if w in body:
                    s += weight
                if head and w in head:
                    s += weight * self.title_weight
            scores[i] = s
        return scores

    def _keyword_logprob(self, scores: np.ndarray) -> np.ndarray:
        if not scores.any():
            return np.full(len(self.keys), -math.log(len(self.keys)))
        z = self.keyword_beta * scores
        z = z - z.max()
        p = np.exp(z)
        p = 0.9 * p / p.sum() + 0.1 / len(self.keys)  # never certain from keywords alone
        return np.log(p)

    # ------------------------------------------------------------------ model

    @property
    def trained(self) -> bool:
        """True once the model has seen at least one classified record."""
        return bool(self._docs.sum() > 0)

    @property
    def n_samples(self) -> int:
        return int(self._docs.sum())

    def _features(self, text: str, title: str | None, *, normalised: bool = False) -> dict[str, int]:
        """Body n-grams by presence (a boilerplate sentence repeated does not count more),
        plus title n-grams with `title_weight` each."""
        if not normalised:
            text = normalise_text(text)
            title = normalise_text(title) if title else title
        feats = dict.fromkeys(_ngrams(text, self.ngram_max), 1)
        if title:
            tw = self.title_weight
            for g in _ngrams(title, self.ngram_max):
                feats[g] = feats.get(g, 0) + tw
        return feats

    def _category_index(self, category: str) -> int:
        try:
            return self._index[category]
        except KeyError:
            raise ValueError(f"未知类别 {category!r}：应为 {', '.join(self.keys)} 之一") from None

    def _grow(self, needed: int) -> None:
        if needed > self._counts.shape[0]:
            new = np.zeros((max(needed, 2 * self._counts.shape[0], 1024), len(self.keys)))
            old = self._counts.shape[0]
            new[:old] = self._counts
            self._counts = new

    def _add(self, feats: Mapping[str, int], ci: int) -> None:
        vocab = self._vocab
        rows = []
        vals = []
        for f, n in feats.items():
            r = vocab.get(f)
            if r is None:
                r = vocab[f] = self._n_rows
                self._n_rows += 1
            rows.append(r)
            vals.append(n)
        self._grow(self._n_rows)
        self._counts[np.asarray(rows, dtype=np.int64), ci] += np.asarray(vals, dtype=np.float64)
        self._totals[ci] += float(sum(vals))
        self._docs[ci] += 1
        self._logp = None

    def learn(self, sample: tuple[str, str | None, str]) -> None:
        """Add one classified or corrected record (text, title, category) to the model."""
        text, title, category = sample
        self._add(self._features(text, title), self._category_index(category))

    def train(self, samples: Iterable[tuple[str, str | None, str]], *, calibrate: bool = True,
              seed: int = 0) -> Classifier:
        """Learn from classified records, then fit the calibration on held-out predictions.

        With at least 50 samples, the model's scores on records it has not seen are
        collected — 5-fold cross-validation below 2,000 samples (small archives need
        every record to see enough mistakes), one held-out fifth above — and the
        temperature, keyword weight and isotonic confidence map are fitted on them.
        Then every sample is learnt.
        """
        data = []
        for t, ti, c in samples:
            body, head = normalise_text(t), (normalise_text(ti) if ti else None)
            data.append((self._features(body, head, normalised=True), self._category_index(c), body, head))
        if calibrate and len(data) >= 50:
            order = list(range(len(data)))
            random.Random(seed).shuffle(order)
            k = 5 if len(data) < 2000 else 1
            folds = [order[i::5] for i in range(5)][:k]
            raws, kws, ys = [], [], []
            for held_idx in folds:
                held = set(held_idx)
                probe = Classifier(self.categories, self.threshold, ngram_max=self.ngram_max,
                                   title_weight=self.title_weight, alpha=self.alpha,
                                   keyword_beta=self.keyword_beta)
                for i in order:
                    if i not in held:
                        probe._add(data[i][0], data[i][1])
                for i in held_idx:
                    feats, ci, body, head = data[i]
                    raws.append(probe._raw_scores(feats))
                    kws.append(self._keyword_logprob(self.keyword_scores(body, head, normalised=True)))
                    ys.append(ci)
            raw, kw, y = np.stack(raws), np.stack(kws), np.asarray(ys)
            self.temperature, self.keyword_weight = _fit_calibration(raw, kw, y)
            z = raw / self.temperature + self.keyword_weight * kw
            self.isotonic = _fit_isotonic(_margin(z), (z.argmax(axis=1) == y).astype(float))
        for feats, ci, _, _ in data:
            self._add(feats, ci)
        return self

    def _log_theta(self) -> np.ndarray:
        if self._logp is None:
            n = self._n_rows
            counts = self._counts[:n]
            denom = self._totals + self.alpha * max(n, 1)
            self._logp = np.log(counts + self.alpha) - np.log(denom)
        return self._logp

    def _raw_scores(self, feats: Mapping[str, int]) -> np.ndarray:
        """NB log-joint per category, scaled by 1/sqrt(feature mass) (length-independent)."""
        logp = self._log_theta()
        prior = np.log((self._docs + 1.0) / (self._docs.sum() + len(self.keys)))
        rows = np.fromiter(map(self._vocab.get, feats, repeat(-1)), dtype=np.int64, count=len(feats))
        vals = np.fromiter(feats.values(), dtype=np.float64, count=len(feats))
        known = rows >= 0
        if not known.any():
            return prior
        v = vals[known]
        ll = v @ logp[rows[known]]
        # averaging keeps the temperature meaningful across 50- and 5,000-character texts
        return prior + ll / math.sqrt(v.sum())

    # ------------------------------------------------------------------ predicting

    def probabilities(self, text: str, title: str | None = None) -> tuple[np.ndarray, str]:
        """Posterior over `keys` and its source ("model", "keywords" or "none").

        With a fitted calibration the top category's probability is the calibrated
        chance of being right, and the others share the rest in proportion.
        """
        body = normalise_text(text)
        head = normalise_text(title) if title else None
        kw_scores = self.keyword_scores(body, head, normalised=True)
        kw = self._keyword_logprob(kw_scores)
        if self.trained:
            raw = self._raw_scores(self._features(body, head, normalised=True))
            z = raw / self.temperature + self.keyword_weight * kw
            source = "model"
        elif kw_scores.any():
            z, source = kw, "keywords"
        else:
            return np.full(len(self.keys), 1.0 / len(self.keys)), "none"
        z = z - z.max()
        p = np.exp(z)
        p = p / p.sum()
        if source == "model" and self.isotonic is not None:
            order = np.argsort(-p)
            best, second = int(order[0]), int(order[1]) if len(p) > 1 else int(order[0])
            xs, ys = self.isotonic
            conf = float(np.interp(_p_margin(z, best, second), xs, ys))
            rest = 1.0 - p[best]
            if rest > 0 and second != best:
                # the ranking is the model's; calibration only says how sure to be of it
                conf = max(conf, p[second] / (rest + p[second]))
                p = p * ((1.0 - conf) / rest)
            p[best] = conf
        return p, source

    def predict(self, text: str, title: str | None = None) -> Suggestion:
        """The most likely category, its confidence and up to three alternatives."""
        p, source = self.probabilities(text, title)
        order = np.argsort(-p, kind="stable")
        best = int(order[0])
        conf = float(p[best])
        alts = [(self.keys[int(i)], round(float(p[int(i)]), 4)) for i in order[1:4]]
        return Suggestion(self.keys[best], round(conf, 4), alts,
                          needs_review=conf < self.threshold or source == "none", source=source)

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> str:
        """The whole classifier as JSON text (settings, calibration and sparse counts)."""
        n = self._n_rows
        counts = self._counts[:n]
        inv = [""] * n
        for f, r in self._vocab.items():
            inv[r] = f
        features = {}
        for r in range(n):
            row = counts[r]
            nz = np.nonzero(row)[0]
            features[inv[r]] = [[int(i), _num(row[i])] for i in nz]
        doc = {
            "format": _FORMAT,
            "categories": [{"key": c.key, "name": c.name, "keywords": list(c.keywords)} for c in self.categories],
            "settings": {"threshold": self.threshold, "ngram_max": self.ngram_max,
                         "title_weight": self.title_weight, "alpha": self.alpha,
                         "keyword_beta": self.keyword_beta},
            "calibration": {"temperature": self.temperature, "keyword_weight": self.keyword_weight,
                            "isotonic": [list(v) for v in self.isotonic] if self.isotonic else None},
            "docs": [_num(x) for x in self._docs],
            "totals": [_num(x) for x in self._totals],
            "features": features,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, categories: Sequence[CategoryLike] | None = None) -> Classifier:
        """Load `to_json` output. With `categories` (the current scheme) its keywords win.

        The model's categories must all still exist in the scheme; new scheme categories
        start with no training data.
        """
        doc = json.loads(text)
        if not isinstance(doc, Mapping) or doc.get("format") != _FORMAT:
            raise ValueError(f"不是分类模型文件（应为 {_FORMAT} 格式）")
        saved = [_Cat(c["key"], c["name"], tuple(c["keywords"])) for c in doc["categories"]]
        cats: Sequence[CategoryLike] = categories if categories is not None else saved
        s = doc["settings"]
        clf = cls(cats, s["threshold"], ngram_max=s["ngram_max"], title_weight=s["title_weight"],
                  alpha=s["alpha"], keyword_beta=s["keyword_beta"])
        missing = [c.key for c in saved if c.key not in clf._index]
        if missing:
            raise ValueError(f"模型中的类别 {', '.join(missing)} 不在当前分类方案中：请重新训练")
        cal = doc["calibration"]
        clf.temperature = float(cal["temperature"])
        clf.keyword_weight = float(cal["keyword_weight"])
        iso = cal.get("isotonic")
        clf.isotonic = ([float(x) for x in iso[0]], [float(x) for x in iso[1]]) if iso else None
        col = np.asarray([clf._index[c.key] for c in saved], dtype=np.int64)
        clf._docs[col] = doc["docs"]
        clf._totals[col] = doc["totals"]
        feats = doc["features"]
        clf._grow(len(feats))
        for r, (f, cells) in enumerate(feats.items()):
            clf._vocab[f] = r
            for i, v in cells:
                clf._counts[r, col[i]] = v
        clf._n_rows = len(feats)
        return clf


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _fit_calibration(raw: np.ndarray, kw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Temperature and keyword weight minimising held-out log-loss (small grid search)."""
    best = (math.inf, 1.0, 0.0)
    idx = np.arange(len(y))
    for t in np.geomspace(0.05, 200.0, 30):
        for w in (0.0, 0.25, 0.5, 1.0, 2.0):
            z = raw / t + w * kw
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -float(logp[idx, y].mean())
            if loss < best[0] - 1e-9:
                best = (loss, float(t), w)
    return best[1], best[2]


def _p_margin(z: np.ndarray, best: int, second: int) -> float:
    """Log-odds gap between two categories of one score vector."""
    return float(z[best] - z[second])


def _margin(z: np.ndarray) -> np.ndarray:
    """Log-odds gap between the best and the second-best category, per row."""
    top2 = np.sort(z, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _fit_isotonic(margin: np.ndarray, correct: np.ndarray) -> tuple[list[float], list[float]] | None:
    """Isotonic regression of P(correct) on the top-two margin (pool adjacent violators).

    Monotone but not sigmoid-shaped: on archives with ambiguous memos, middling margins are
    no likelier right than tiny ones, which a logistic curve cannot express. Each block's
    rate is smoothed towards one half by one pseudo-observation. None when the held-out set
    has too few right or wrong answers to say anything.
    """
    n_right = int(correct.sum())
    if n_right < 8 or len(correct) - n_right < 8:
        return None
    order = np.argsort(margin, kind="stable")
    xs, ys = margin[order], correct[order]
    # blocks: [sum of y, count, max x]
    blocks: list[list[float]] = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        blocks.append([y, 1.0, x, x])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, n, lo, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][3] = hi
    knots_x: list[float] = []
    knots_y: list[float] = []
    for s, n, lo, hi in blocks:
        rate = (s + 0.5) / (n + 1.0)
        knots_x.extend([lo, hi])
        knots_y.extend([rate, rate])
    return knots_x, [min(0.999, y) for y in np.maximum.accumulate(knots_y).tolist()]
