"""Explanation transfer: detection scores equal sklearn's, the bootstrap intervals cover the true value at about the
nominal rate, the permutation p-value equals a full enumeration, the verdicts and the LLM judge against a stub
OpenAI-compatible server on 127.0.0.1."""
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from analysis import transfer as tr


def _examples(seed=0, datasets=("a", "b", "c"), n_q=4, n_non=30, recall=(0.9, 0.3, 0.9), fpr=(0.1, 0.4, 0.1)):
    rng = np.random.default_rng(seed)
    rows = []
    for d, r, f in zip(datasets, recall, fpr):
        for q in range(0, tr.N_QUANTILES + 1):
            n = n_non if q == 0 else n_q
            p = f if q == 0 else r * q / tr.N_QUANTILES + (1 - q / tr.N_QUANTILES) * r / 2
            rows.append(pd.DataFrame({"dataset": d, "quantile": q, "hit": rng.random(n) < p}))
    return pd.concat(rows, ignore_index=True)


def test_detection_scores_equal_sklearn():
    e = _examples(1)
    got = tr.detection_scores(e)
    for d, g in e.groupby("dataset"):
        for q in ["all"] + [str(k) for k in range(1, 11)]:
            sub = g if q == "all" else g[(g["quantile"] == 0) | (g["quantile"] == int(q))]
            y, p = (sub["quantile"] > 0).to_numpy(), sub["hit"].to_numpy()
            row = got[(got["dataset"] == d) & (got["quantile"] == q)].iloc[0]
            assert row["precision"] == pytest.approx(precision_score(y, p, zero_division=0))
            assert row["recall"] == pytest.approx(recall_score(y, p, zero_division=0))
            assert row["f1"] == pytest.approx(f1_score(y, p, zero_division=0))
            assert (row["n_active"], row["n_non"]) == (y.sum(), (~y).sum())
    # no hit at all: sklearn's zero_division=0
    none = e.assign(hit=False)
    assert (tr.detection_scores(none)["f1"] == 0).all()


# A population of examples (TN, FP, FN, TP shares) whose F1 is known: F1 = 2 tp / (2 tp + fp + fn).
POP_A = np.array([0.40, 0.10, 0.15, 0.35])
POP_B = np.array([0.30, 0.20, 0.30, 0.20])


def _f1(pop):
    return 2 * pop[3] / (2 * pop[3] + pop[1] + pop[2])


def test_bootstrap_intervals_cover_the_true_value_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    reps, n = 120, 80
    cover_f1 = cover_drop = 0
    for i in range(reps):
        ca, cb = rng.choice(4, size=n, p=POP_A), rng.choice(4, size=n, p=POP_B)
        lo, hi = tr.f1_interval(ca, seed=i, n_resamples=399)
        cover_f1 += lo <= _f1(POP_A) <= hi
        t = tr.drop_test(ca, cb, seed=i, n_resamples=399)
        cover_drop += t["lo"] <= _f1(POP_B) - _f1(POP_A) <= t["hi"]
        assert t["drop"] == pytest.approx(f1_score(cb >= 2, cb % 2 == 1) - f1_score(ca >= 2, ca % 2 == 1))
    # nominal 0.95; 120 repetitions give a standard error of about 0.02
    assert 0.87 <= cover_f1 / reps <= 1.0
    assert 0.87 <= cover_drop / reps <= 1.0


def test_permutation_p_value_equals_full_enumeration():
    ca = np.array([3, 3, 3, 2, 0, 1])
    cb = np.array([3, 2, 2, 1, 1, 0])
    observed = tr.f1_of_codes(cb) - tr.f1_of_codes(ca)
    pooled = np.concatenate([ca, cb])
    stats_ = []
    for idx in itertools.combinations(range(12), 6):
        mask = np.zeros(12, bool)
        mask[list(idx)] = True
        stats_.append(tr.f1_of_codes(pooled[~mask]) - tr.f1_of_codes(pooled[mask]))
    stats_ = np.array(stats_)
    eps = 1e-14 * max(1.0, abs(observed))  # scipy's own tolerance for ties
    exact = min(1.0, 2 * min((stats_ >= observed - eps).mean(), (stats_ <= observed + eps).mean()))
    # 924 partitions <= n_resamples: scipy enumerates them all
    assert tr.drop_test(ca, cb, n_resamples=999)["p_value"] == pytest.approx(exact)


def test_transfer_table_states_where_it_holds_and_breaks():
    e = _examples(3, n_q=8, n_non=80)
    t = tr.transfer_table(e, "a", n_resamples=499).set_index("dataset")
    assert t.loc["a", "verdict"] == "reference" and t.loc["c", "verdict"] == "holds"
    assert t.loc["b", "verdict"] == "breaks" and t.loc["b", "drop_hi"] < 0 and t.loc["b", "p_value"] < 0.05
    for d in "abc":
        g = e[e["dataset"] == d]
        assert t.loc[d, "f1"] == pytest.approx(f1_score(g["quantile"] > 0, g["hit"]))
        assert t.loc[d, "f1_lo"] <= t.loc[d, "f1"] <= t.loc[d, "f1_hi"]
    text = tr.statement(t.reset_index(), "a")
    assert "Written on a" in text and "Holds" in text and "Breaks" in text and "b (F1" in text
    # an explanation that fails on its own dataset has nothing to transfer
    bad = tr.transfer_table(e.assign(hit=True), "a", n_resamples=99)
    assert "nothing to transfer" in tr.statement(bad, "a")
    assert set(bad["verdict"]) == {"reference", "no signal on reference"}


def test_sentence_keywords():
    assert tr.sentence_keywords("Mentions of food and cooking, e.g. recipes") == ["food", "cooking", "recipes"]
    with pytest.raises(ValueError, match="no content word"):
        tr.sentence_keywords("the neuron fires on this")


# --- The LLM judge against a stub OpenAI-compatible server ------------------------------------------------------

class _Stub(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: answers 1 for every numbered text that contains the first word of the
    explanation; records each request body."""
    requests: list = []
    broken = False

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        user = body["messages"][-1]["content"]
        word = user.split("\n", 1)[0].removeprefix("Explanation: ").split()[0].lower()
        texts = [line.split(". ", 1)[1] for line in user.split("Texts:\n", 1)[1].splitlines()]
        answer = "I think so" if type(self).broken else json.dumps([int(word in t.lower()) for t in texts])
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_llm(monkeypatch):
    _Stub.requests, _Stub.broken = [], False
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    monkeypatch.setenv("ILLUSION_LLM_URL", url)
    monkeypatch.setenv("ILLUSION_LLM_MODEL", "stub-judge")
    monkeypatch.setenv("ILLUSION_LLM_API_KEY", "sk-test")
    yield url
    server.shutdown()
    server.server_close()


def test_llm_judge_against_a_stub_server(stub_llm):
    from ui import transfer_model as model

    cfg = model.llm_config()
    assert cfg == {"url": stub_llm, "model": "stub-judge", "key": "sk-test"}
    texts = [f"the {w} is here" for w in ("dog", "cat", "dog", "bird")] * 6  # 24 texts: 3 batches of 10
    got = model.llm_hits(cfg, "dog things", texts, batch=10)
    np.testing.assert_array_equal(got, ["dog" in t for t in texts])
    assert len(_Stub.requests) == 3 and _Stub.requests[0]["path"] == "/v1/chat/completions"
    assert _Stub.requests[0]["body"]["model"] == "stub-judge" and _Stub.requests[0]["auth"] == "Bearer sk-test"
    _Stub.broken = True
    with pytest.raises(ValueError, match=r"expected a JSON list of 2 0/1 answers") as e:
        model.llm_hits(cfg, "dog", texts[:2])
    assert "\n" not in str(e.value)


def test_llm_judge_is_off_by_default_and_an_unreachable_one_is_one_line(monkeypatch):
    from ui import transfer_model as model

    monkeypatch.delenv("ILLUSION_LLM_URL", raising=False)
    monkeypatch.delenv("ILLUSION_LLM_MODEL", raising=False)
    assert model.llm_config() is None
    with pytest.raises(ValueError, match=r"LLM judge at http://127.0.0.1:9/v1") as e:
        model.llm_hits({"url": "http://127.0.0.1:9/v1", "model": "m", "key": ""}, "dog", ["a dog"], timeout=2)
    assert "\n" not in str(e.value)


def test_chance_level_is_f1_of_a_rule_saying_yes_as_often_without_regard_to_the_label():
    # 40 activating, 40 not; a rule that says yes to 10 of each (20 in all) knows nothing: its F1 is chance
    y = np.r_[np.ones(40, bool), np.zeros(40, bool)]
    hit = np.r_[np.ones(10, bool), np.zeros(30, bool), np.ones(10, bool), np.zeros(30, bool)]
    assert tr.chance_f1(40, 40, 20) == pytest.approx(f1_score(y, hit))
    assert tr.chance_f1(40, 40, 80) == pytest.approx(f1_score(y, np.ones(80, bool)))  # yes to all
    assert tr.chance_f1(40, 40, 0) == 0.0
