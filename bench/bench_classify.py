"""Category suggestion and coding-from-text accuracy on the synthetic corpus.

    .venv/bin/python bench/bench_classify.py [--train 10000] [--test 3000] [--seed 1] [--threshold 0.6]

Trains the classifier on --train documents of `dangan.demo.corpus` and tests it on a
disjoint set (another seed; any text also present in the training set is dropped).
Reports:

- category accuracy, keyword-only (cold start) versus the trained model (target ≥ 90%);
- the share sent to 待分类 at the threshold, and accuracy among the confident rest;
- a reliability table (confidence bins vs. accuracy) and the commonest confusions;
- a learning curve (accuracy by training-set size);
- location accuracy on documents that state a location (target ≥ 95%), and how often a
  document without one is left unplaced; date, 维修编码 and title accuracy;
- timings (corpus generation, training, prediction, extraction).

The corpus mixes ~12% generic memos (工作联系单, 情况说明) whose category rests on a short
事由 amid borrowed sentences, so the accuracy is not a template-matching score.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dangan.demo.corpus import DEFAULT_PROJECTS, SyntheticDoc, generate
from dangan.ingest.classify import Classifier
from dangan.ingest.extract import ProjectRef, extract_metadata


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def evaluate(clf: Classifier, docs: list[SyntheticDoc]) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """(correct flags, confidences, predicted categories, seconds per document)."""
    t = time.perf_counter()
    preds = [clf.predict(d.text, d.title) for d in docs]
    per_doc = (time.perf_counter() - t) / len(docs)
    ok = np.array([p.category == d.category for p, d in zip(preds, docs, strict=True)])
    conf = np.array([p.confidence for p in preds])
    return ok, conf, [p.category for p in preds], per_doc


def report_suggestions(name: str, ok: np.ndarray, conf: np.ndarray, threshold: float) -> None:
    review = conf < threshold
    print(f"  {name:<14} accuracy {pct(ok.mean()):>6}   to 待分类 {pct(review.mean()):>6}   "
          f"accuracy of confident {pct(ok[~review].mean()) if (~review).any() else '—':>6}   "
          f"filed wrongly {pct((~ok & ~review).mean()):>5}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=10000, help="training documents")
    ap.add_argument("--test", type=int, default=3000, help="test documents")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (test set uses seed + 1000)")
    ap.add_argument("--threshold", type=float, default=0.6, help="待分类 threshold")
    args = ap.parse_args()
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))

    t = time.perf_counter()
    train = list(generate(args.train, seed=args.seed))
    gen_rate = args.train / (time.perf_counter() - t)
    seen = {d.text for d in train}
    test = [d for d in generate(args.test, seed=args.seed + 1000) if d.text not in seen]
    print(f"corpus: {len(train)} training, {len(test)} test documents "
          f"(generated at {gen_rate:,.0f} docs/s)")

    # ---------------------------------------------------------------- categories
    print("\ncategory suggestion")
    cold = Classifier.from_scheme(threshold=args.threshold)
    kw_ok, kw_conf, _, _ = evaluate(cold, test)
    clf = Classifier.from_scheme(threshold=args.threshold)
    t = time.perf_counter()
    clf.train((d.text, d.title, d.category) for d in train)
    train_s = time.perf_counter() - t
    ok, conf, pred, per_doc = evaluate(clf, test)
    report_suggestions("keywords only", kw_ok, kw_conf, args.threshold)
    report_suggestions("model", ok, conf, args.threshold)
    print(f"  calibration: temperature {clf.temperature:.2f}, keyword weight {clf.keyword_weight}, "
          f"isotonic map {len(clf.isotonic[0]) // 2 if clf.isotonic else 0} blocks")
    print(f"  training {train_s:.1f} s ({len(train) / train_s:,.0f} docs/s), "
          f"prediction {per_doc * 1e3:.2f} ms/doc, model JSON {len(clf.to_json().encode()) / 1e6:.1f} MB")

    print("\n  reliability (model)      n   mean conf   accuracy")
    for lo, hi in ((0.0, 0.5), (0.5, 0.6), (0.6, 0.8), (0.8, 0.9), (0.9, 0.99), (0.99, 1.01)):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            print(f"    [{lo:.2f}, {min(hi, 1):.2f})  {m.sum():>8}   {conf[m].mean():>9.3f}   {pct(ok[m].mean()):>8}")

    cats = sorted({d.category for d in test})
    print("\n  per category    " + "  ".join(f"{c[:5]:>5}" for c in cats))
    accs = [np.mean([o for o, d in zip(ok, test, strict=True) if d.category == c]) for c in cats]
    print("  model accuracy  " + "  ".join(f"{100 * a:5.1f}" for a in accs))
    confusions = Counter((d.category, p) for d, p in zip(test, pred, strict=True) if d.category != p)
    print("  commonest confusions (true → suggested):",
          ", ".join(f"{a}→{b} {n}" for (a, b), n in confusions.most_common(5)))
    memo = np.array([d.title in ("工作联系单", "情况说明", "会议纪要", "内部通知", "工作报告", "专项工作记录")
                     for d in test])
    if memo.any():
        print(f"  generic memos: {pct(memo.mean())} of test set, accuracy {pct(ok[memo].mean())}; "
              f"other documents {pct(ok[~memo].mean())}")

    print("\n  learning curve")
    for n in sorted({min(500, args.train), min(2000, args.train), args.train}):
        c = Classifier.from_scheme(threshold=args.threshold)
        c.train((d.text, d.title, d.category) for d in train[:n])
        o, cf, _, _ = evaluate(c, test)
        print(f"    {n:>7} training docs: accuracy {pct(o.mean())}, to 待分类 {pct((cf < args.threshold).mean())}")

    # ---------------------------------------------------------------- coding from text
    print("\ncoding from text")
    projects = [ProjectRef(code, name) for code, name, _ in DEFAULT_PROJECTS]
    t = time.perf_counter()
    got = [extract_metadata(d.text, None, projects) for d in test]
    ext_ms = (time.perf_counter() - t) / len(test) * 1e3
    stated = [(d, g) for d, g in zip(test, got, strict=True) if d.location]
    unstated = [(d, g) for d, g in zip(test, got, strict=True) if not d.location]
    loc_ok = np.array([d.location == g.location for d, g in stated])
    loc_conf = np.array([g.location_confidence for _, g in stated])
    print(f"  location accuracy (documents stating one, n={len(stated)}): {pct(loc_ok.mean())}")
    for level, name in ((4, "room"), (3, "unit"), (2, "building"), (1, "project")):
        sel = [d.location.count("-") + 1 == level for d, _ in stated]
        if any(sel):
            print(f"    {name:<8} {pct(loc_ok[np.array(sel)].mean()):>7}  (n={sum(sel)})")
    trad = np.array(["區" in (d.address_text or "") or "號" in (d.address_text or "") for d, _ in stated])
    if trad.any():
        print(f"    Traditional address forms {pct(loc_ok[trad].mean())} (n={int(trad.sum())})")
    print(f"  documents stating no location left unplaced: "
          f"{pct(np.mean([g.location is None for _, g in unstated]))} (n={len(unstated)})")
    print(f"  mean location confidence: right {loc_conf[loc_ok].mean():.2f}"
          + (f", wrong {loc_conf[~loc_ok].mean():.2f}" if (~loc_ok).any() else ""))
    print(f"  date accuracy: {pct(np.mean([d.date == g.date for d, g in zip(test, got, strict=True)]))}")
    print(f"  维修编码 accuracy: "
          f"{pct(np.mean([d.maintenance_code == g.maintenance_code for d, g in zip(test, got, strict=True)]))} "
          f"(n with a code={sum(1 for d in test if d.maintenance_code)})")
    print(f"  title accuracy: {pct(np.mean([d.title == g.title for d, g in zip(test, got, strict=True)]))}")
    print(f"  extraction {ext_ms:.2f} ms/doc")

    print("\ntargets: category accuracy ≥ 90%: " + ("met" if ok.mean() >= 0.9 else "MISSED")
          + "; location accuracy ≥ 95%: " + ("met" if loc_ok.mean() >= 0.95 else "MISSED"))


if __name__ == "__main__":
    main()
