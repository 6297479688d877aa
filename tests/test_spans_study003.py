"""Study 003's remaining pieces on the span-match page: activation timing and decay after a span, and units'
selectivity across phrase queries (idiom neurons), checked against loops written here and the stored states."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis.spans import phrase_selectivity, span_timecourse

ROOT = Path(__file__).resolve().parent.parent


def test_timecourse_means_and_decay_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 4)), rng.normal(size=(9, 4))
    a[5, 1], a[6:, 1] = 1.0, [1.0, 0.9, 0.1, 0.0, 0.0, 0.0]  # unit 1 on at a's span end (5), falls at +3
    b[3, 1], b[4:, 1] = 1.0, 0.0                                 # and at b's (3), falls at +1
    curve, decay = span_timecourse([a, b], [(4, 6), (2, 4)], [1, 3], before=1, after=4, threshold=0.3)
    for s in range(-2, 5):  # from 1 before the span's start (i0 - 1 = end - 2) to 4 after its end
        vals = [x[e + s, 1] for x, e in ((a, 5), (b, 3)) if 0 <= e + s < len(x)]
        row = curve[(curve.unit == 1) & (curve.step == s)].iloc[0]
        assert row["mean"] == pytest.approx(np.mean(vals)) and row["n"] == len(vals)
    d = decay.set_index("unit")
    assert d.loc[1, "on_at_end"] == 2 and d.loc[1, "fell_within"] == 2
    assert d.loc[1, "steps_to_below"] == np.median([3, 1])
    assert d.loc[1, "mean_at_end"] == pytest.approx(1.0)


def test_phrase_selectivity_finds_the_idiom_unit_and_not_the_word_unit():
    texts = ["he will kick the bucket soon", "a bucket of water", "kick the ball", "they kick the bucket"]
    starts = [np.arange(len(t)) for t in texts]  # one unit per character
    ends = [s + 1 for s in starts]

    def states(i):
        t = texts[i]
        x = np.zeros((len(t), 3))
        for m in re.finditer("kick the bucket", t):
            x[m.start():m.end(), 0] = 1.0  # unit 0: the idiom only
        for m in re.finditer("bucket", t):
            x[m.start():m.end(), 1] = 1.0  # unit 1: the word wherever it is
        x[:, 2] = 1.0  # unit 2: always on
        return x

    per_phrase, per_unit = phrase_selectivity(texts, starts, ends, states, ["kick the bucket", "no such phrase"], 0.5)
    assert set(per_phrase["phrase"]) == {"kick the bucket"}
    p = per_phrase.set_index("unit")
    assert p.loc[0, "response"] == 1.0 and p.loc[0, "control"] == 0.0  # off on "kick", "the", "bucket" alone
    # controls: "kick" in text 2, "the" in text 2, "bucket" in text 1: 3 occurrences outside the idiom
    assert p.loc[0, "n_occurrences"] == 2 and p.loc[0, "n_controls"] == 3
    assert p.loc[1, "response"] == 0.0  # not on across the whole phrase
    assert p.loc[2, "response"] == 1.0 and p.loc[2, "control"] == 1.0
    u = per_unit.set_index("unit")
    assert u.loc[0, "selective_for"] == 1 and u.loc[2, "selective_for"] == 0 and u.loc[2, "responds_to"] == 1
    assert per_unit["unit"].iloc[0] == 0


def test_span_page_shows_timing_and_selectivity(monkeypatch, small_warehouse):
    import warehouse

    con = warehouse.connect_read_only(small_warehouse)
    text = con.execute("select s.text from token_units u join sentences s using (dataset, sentence_id) where "
                       "u.run_id = 'tiny' and u.dataset = 'news' and u.sentence_id = 3").fetchone()[0]
    con.close()
    word = text.split()[1].strip(".,;:!?\"'")
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "spans.py"), default_timeout=90)
    at.query_params.update({"sent": "news:3", "span": "1-1", "thr": "0", "sel_ph": f"{word}\nzzz qqq"})
    at.run()
    assert not at.exception
    decay = next(d.value for d in at.dataframe if "steps_to_below" in d.value.columns)
    assert len(decay) >= 1
    ranked = next(d.value for d in at.dataframe if "selective_for" in d.value.columns)
    assert len(ranked) == 32 and ranked["selective_for"].is_monotonic_decreasing
    assert any("zzz qqq" in w.value for w in at.warning)  # the phrase that never occurs is named
    assert dict(at.query_params)["sel_ph"] in ([f"{word}\nzzz qqq"], f"{word}\nzzz qqq")
