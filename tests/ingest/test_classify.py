"""Category suggestions: keywords on day one, a learnt model later, and honest confidence."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from dangan.demo.corpus import generate, to_traditional
from dangan.ingest.classify import Classifier, Suggestion


@dataclass(frozen=True)
class FakeCategory:
    key: str
    code: str
    name: str
    keywords: tuple[str, ...]


SMALL = (
    FakeCategory("renovation", "ZX", "装修管理", ("装修", "装修申请", "押金", "承重墙")),
    FakeCategory("maintenance", "WX", "维修保养", ("维修", "报修", "漏水", "工单")),
    FakeCategory("environment", "HJ", "环境绿化", ("绿化", "保洁", "垃圾")),
)


@pytest.fixture(scope="module")
def trained() -> Classifier:
    clf = Classifier.from_scheme()
    clf.train((d.text, d.title, d.category) for d in generate(1500, seed=21))
    return clf


@pytest.fixture(scope="module")
def held_out() -> list:
    return list(generate(400, seed=22))


def test_cold_start_suggests_from_keywords_only() -> None:
    clf = Classifier(SMALL)
    s = clf.predict("业主申请装修，已交押金，承诺不拆改承重墙。", "装修申请表")
    assert isinstance(s, Suggestion)
    assert (s.category, s.source) == ("renovation", "keywords")
    assert not s.needs_review
    assert not clf.trained


def test_cold_start_with_the_packaged_scheme() -> None:
    clf = Classifier.from_scheme()
    assert clf.predict("消防安全巡查：灭火器压力不足，疏散通道堆放杂物。", "消防安全巡查记录").category == "safety"


def test_text_without_any_evidence_goes_to_review() -> None:
    s = Classifier(SMALL).predict("今天天气很好。", None)
    assert s.source == "none"
    assert s.needs_review


def test_low_confidence_suggestion_goes_to_review() -> None:
    clf = Classifier(SMALL, threshold=0.6)
    # equal evidence for two categories: the classifier must not pretend to know
    s = clf.predict("装修 维修", None)
    assert s.confidence < 0.6
    assert s.needs_review
    assert {s.category, s.alternatives[0][0]} == {"renovation", "maintenance"}


def test_threshold_is_a_setting() -> None:
    text, title = "装修申请，押金已交。", "装修申请表"
    assert not Classifier(SMALL, threshold=0.0).predict(text, title).needs_review
    assert Classifier(SMALL, threshold=1.0).predict(text, title).needs_review
    with pytest.raises(ValueError):
        Classifier(SMALL, threshold=1.5)


def test_trained_model_classifies_unseen_documents_well(trained: Classifier, held_out: list) -> None:
    preds = [trained.predict(d.text, d.title) for d in held_out]
    accuracy = np.mean([p.category == d.category for p, d in zip(preds, held_out, strict=True)])
    assert accuracy >= 0.88
    assert all(p.source == "model" for p in preds)


def test_model_beats_keywords_alone(trained: Classifier, held_out: list) -> None:
    cold = Classifier.from_scheme()
    model = np.mean([trained.predict(d.text, d.title).category == d.category for d in held_out])
    keywords = np.mean([cold.predict(d.text, d.title).category == d.category for d in held_out])
    assert model > keywords


def test_confident_suggestions_are_more_often_right(trained: Classifier, held_out: list) -> None:
    preds = [trained.predict(d.text, d.title) for d in held_out]
    ok = np.array([p.category == d.category for p, d in zip(preds, held_out, strict=True)])
    conf = np.array([p.confidence for p in preds])
    confident = conf >= trained.threshold
    assert ok[confident].mean() >= 0.95
    assert ok[confident].mean() > ok[~confident].mean()
    # calibrated-ish: mean confidence within ten points of accuracy
    assert abs(conf.mean() - ok.mean()) < 0.1


def test_alternatives_are_ordered_and_probabilities_sum_to_at_most_one(trained: Classifier) -> None:
    s = trained.predict("业主反映卫生间漏水，已派维修人员处理。", "投诉处理记录")
    probs = [s.confidence] + [p for _, p in s.alternatives]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-6
    assert s.category not in {k for k, _ in s.alternatives}


def test_title_weighs_more_than_a_line_of_body(trained: Classifier) -> None:
    body = "本记录一式两份，归档备查。业主反映楼道灯不亮。"
    assert trained.predict(body, "装修验收单").category == "renovation"
    assert trained.predict(body, "绿化养护记录").category == "environment"


def test_traditional_script_is_classified_like_simplified(trained: Classifier, held_out: list) -> None:
    for d in held_out[:40]:
        assert trained.predict(to_traditional(d.text), to_traditional(d.title)).category == \
            trained.predict(d.text, d.title).category


def test_archivist_correction_is_learned_incrementally() -> None:
    clf = Classifier(SMALL)
    clf.train([("更换水管接头，漏水已修复。", "维修工单", "maintenance"),
               ("草坪修剪，垃圾清运。", "绿化养护记录", "environment")], calibrate=False)
    text, title = "电动车充电桩增设事宜", "专项记录"
    before = clf.predict(text, title).category
    target = "renovation" if before != "renovation" else "environment"
    for _ in range(3):
        clf.learn((text, title, target))
    assert clf.predict(text, title).category == target
    assert clf.n_samples == 5


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="未知类别"):
        Classifier(SMALL).learn(("文本", None, "nonsense"))


def test_json_round_trip_keeps_predictions(trained: Classifier, held_out: list) -> None:
    text = trained.to_json()
    assert json.loads(text)["format"].startswith("dangan.classifier/")
    again = Classifier.from_json(text)
    for d in held_out[:50]:
        a, b = trained.predict(d.text, d.title), again.predict(d.text, d.title)
        assert (a.category, a.confidence) == (b.category, b.confidence)
    assert again.threshold == trained.threshold


def test_json_model_refuses_a_scheme_missing_its_categories() -> None:
    clf = Classifier(SMALL)
    clf.learn(("装修", None, "renovation"))
    with pytest.raises(ValueError, match="不在当前分类方案"):
        Classifier.from_json(clf.to_json(), categories=SMALL[1:])


def test_loading_with_new_scheme_keywords_uses_them() -> None:
    clf = Classifier(SMALL)
    clf.learn(("装修", None, "renovation"))
    newer = (*SMALL[:2], FakeCategory("environment", "HJ", "环境绿化", ("绿化", "保洁", "垃圾", "消杀")))
    again = Classifier.from_json(clf.to_json(), categories=newer)
    assert "消杀" in again.categories[2].keywords


def test_not_json_is_refused() -> None:
    with pytest.raises(ValueError):
        Classifier.from_json('{"format": "something-else"}')
