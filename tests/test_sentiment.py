"""Sentiment-neuron protocol and batched solver, checked against sklearn and hand-computed answers."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from pipeline.config import apply_settings, make_config
from pipeline.errors import PipelineError
from pipeline.methods import sentiment_protocol as P
from pipeline.methods.sentiment_solver import accuracy, fit_batch, single_unit_fit
from pipeline.stages.sentiment import SentimentConfig


def correlated_data(n=1500, h=48, seed=0, layernorm=True):
    """Features with strongly correlated units (a shared low-rank part), and, like LayerNorm outputs, one exact
    linear dependency among the units; labels from a sparse logistic model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) @ rng.normal(size=(6, h)) + 0.7 * rng.normal(size=(n, h))
    if layernorm:
        x = x - x.mean(1, keepdims=True)  # every row sums to zero: an exact null direction
    true = rng.normal(size=h) * (rng.random(h) < 0.25)
    y = (x @ true / np.sqrt(h) + rng.logistic(size=n) > 0).astype(np.int64)
    return x.astype(np.float32), y


def data_object(n=1500, h=48, seed=0):
    x, y = correlated_data(n, h, seed)
    return P.Data.from_arrays(x, y, P.split(n, [seed, 1]))


def sk_fit(x, y, c, penalty):
    """sklearn's LogisticRegression with the same objective: C * sum(log-loss) + penalty, intercept unpenalised
    (lbfgs for L2; saga for L1, the solver that leaves the intercept unpenalised), run to a tight tolerance."""
    if penalty == "l2":
        model = LogisticRegression(C=c, l1_ratio=0.0, solver="lbfgs", tol=1e-8, max_iter=10000)
    else:
        model = LogisticRegression(C=c, l1_ratio=1.0, solver="saga", tol=1e-7, max_iter=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model


# ---- labels and split -------------------------------------------------------------------------------------

def test_binarise_binary_takes_the_larger_value_as_positive():
    out = P.binarise([0, 1, np.nan, 1, 0], "binary")
    assert np.array_equal(out[[0, 1, 3, 4]], [0, 1, 1, 0]) and np.isnan(out[2])
    # text labels become sorted ids (neg=0, pos=1) in the loader; any two values work: the larger is positive
    assert np.array_equal(P.binarise([2, 5, 5], "binary"), [0, 1, 1])
    assert np.isnan(P.binarise([1, 1, 1], "binary")).all()  # one value: no polarity to learn


def test_binarise_score_uses_the_margin_around_the_centre():
    scores = np.array([-4, -0.5, -0.49, 0, 0.3, 0.5, 3.9, np.nan])
    out = P.binarise(scores, "score", margin=0.5)
    assert np.array_equal(out[[0, 1, 5, 6]], [0, 0, 1, 1])
    assert np.isnan(out[[2, 3, 4, 7]]).all()
    zero_margin = P.binarise(scores, "score", margin=0.0)
    assert np.array_equal(zero_margin[[2, 4]], [0, 1]) and np.isnan(zero_margin[3])  # exact centre dropped
    stars = P.binarise([1, 2, 3, 4, 5], "score", margin=1.0, center=3.0)
    assert np.array_equal(stars[[0, 1, 3, 4]], [0, 0, 1, 1]) and np.isnan(stars[2])
    with pytest.raises(ValueError):
        P.binarise([0, 1, 2], "class")


def test_split_is_seeded_70_10_20_and_covers_every_row_once():
    s = P.split(1000, [0, 42])
    assert (s == "train").sum() == 700 and (s == "dev").sum() == 100 and (s == "test").sum() == 200
    assert np.array_equal(s, P.split(1000, [0, 42]))
    assert not np.array_equal(s, P.split(1000, [1, 42]))
    assert P.split_seed(0, "sst2") == P.split_seed(0, "sst2") != P.split_seed(0, "mr")


def test_standardisation_uses_training_rows_only():
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    splits = np.array(["train"] * 5 + ["dev"] * 2 + ["test"] * 3, dtype=object)
    d = P.Data.from_arrays(x, np.array([0, 1] * 5), splits)
    assert np.allclose(d.x["train"].mean(0), 0, atol=1e-6) and np.allclose(d.x["train"].std(0), 1, atol=1e-6)
    assert np.allclose(d.x["test"], (x[7:] - x[:5].mean(0)) / x[:5].std(0))
    assert np.allclose(d.transform(x[:5]), d.x["train"])


# ---- the batched solver against sklearn ------------------------------------------------------------------

@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_batched_fits_match_sklearn_on_a_sample_of_problems(penalty):
    d = data_object()
    h = d.n_units
    rng = np.random.default_rng(3)
    masks = np.vstack([P.random_subsets(h, 20, 6, [0, 9]), P.ablation_masks(h)[rng.choice(h, 4, replace=False)],
                       np.ones((1, h), dtype=bool)])
    for c in (0.01, 0.25, 2.0):
        fit = fit_batch(d.x["train"], d.y["train"], masks, c, penalty)
        assert fit.converged.all()
        assert not fit.w[~masks].any()  # a problem never uses a unit outside its mask
        ours = accuracy(d.x["test"], d.y["test"], fit.w, fit.b)
        for k, m in enumerate(masks):
            cols = np.flatnonzero(m)
            ref = sk_fit(d.x["train"][:, cols], d.y["train"], c, penalty)
            assert abs(ours[k] - ref.score(d.x["test"][:, cols], d.y["test"])) <= 0.005
            assert np.abs(fit.w[k, cols] - ref.coef_[0]).max() < 2e-2 * max(1.0, np.abs(ref.coef_).max())


def test_warm_starts_reach_the_same_solution():
    d = data_object(seed=1)
    masks = P.ablation_masks(d.n_units)[:5]
    cold = fit_batch(d.x["train"], d.y["train"], masks, 0.5, "l2")
    full = fit_batch(d.x["train"], d.y["train"], np.ones((1, d.n_units), bool), 0.5, "l2")
    warm = fit_batch(d.x["train"], d.y["train"], masks, 0.5, "l2", w0=np.where(masks, full.w[0], 0),
                     b0=np.full(5, full.b[0]))
    assert np.abs(cold.w - warm.w).max() < 1e-3
    assert warm.n_iter.sum() < cold.n_iter.sum()


def scipy_l1(x, y, c):
    """L1 logistic regression with an unpenalised intercept, solved independently: w = u - v with u, v >= 0
    makes the objective smooth, and scipy's L-BFGS-B handles the bounds. (sklearn's saga leaves the intercept
    unconverged at strong regularisation, and liblinear penalises it.)"""
    from scipy.optimize import minimize

    s = 2.0 * y - 1.0
    h = x.shape[1]

    def f(theta):
        u, v, b = theta[:h], theta[h:2 * h], theta[-1]
        z = s * (x @ (u - v) + b)
        sig = 0.5 * (1 - np.tanh(z / 2))  # sigmoid(-z)
        g = -(x.T @ (s * sig))
        return np.logaddexp(0, -z).sum() + (u + v).sum() / c, np.concatenate([g + 1 / c, -g + 1 / c, [-(s * sig).sum()]])

    res = minimize(f, np.zeros(2 * h + 1), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * h) + [(None, None)],
                   options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 10000})
    return res.x[:h] - res.x[h:2 * h], res.x[-1]


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_single_unit_fits_match_an_independent_solver(penalty):
    d = data_object(n=800, h=12, seed=2)
    grid = np.array([0.001, 0.05, 1.0])
    fit = single_unit_fit(d.x["train"], d.y["train"], grid, penalty)
    assert fit.w.shape == (3, 12) and fit.converged.all()
    xs = d.x["train"].astype(np.float64)
    for g, c in enumerate(grid):
        for j in range(12):
            if penalty == "l2":
                ref = sk_fit(xs[:, [j]], d.y["train"], c, penalty)
                w_ref, b_ref = ref.coef_[0, 0], ref.intercept_[0]
            else:
                w_ref, b_ref = scipy_l1(xs[:, [j]], d.y["train"], c)
                w_ref = w_ref[0]
            assert abs(fit.w[g, j] - w_ref) < 1e-3 and abs(fit.b[g, j] - b_ref) < 1e-3
    if penalty == "l1":  # strong enough regularisation zeroes every unit: the intercept is the base rate's logit
        p = d.y["train"].mean()
        assert (fit.w[0] == 0).all() and np.allclose(fit.b[0], np.log(p / (1 - p)))


def test_bad_solver_input_is_refused():
    x, y = correlated_data(50, 4)
    with pytest.raises(ValueError, match="penalty"):
        fit_batch(x, y, np.ones((1, 4), bool), 1.0, "elasticnet")
    with pytest.raises(ValueError, match="0/1"):
        fit_batch(x, y + 1, np.ones((1, 4), bool), 1.0, "l2")
    with pytest.raises(ValueError, match="C must be positive"):
        fit_batch(x, y, np.ones((1, 4), bool), 0.0, "l2")


# ---- ablation masks ---------------------------------------------------------------------------------------

def test_ablation_and_cumulative_masks_remove_exactly_the_named_units():
    m = P.ablation_masks(5)
    assert [np.flatnonzero(~row).tolist() for row in m] == [[0], [1], [2], [3], [4]]
    order = np.array([3, 0, 4, 1, 2])
    c = P.cumulative_masks(order)
    assert [sorted(np.flatnonzero(~row).tolist()) for row in c] == [[3], [0, 3], [0, 3, 4], [0, 1, 3, 4]]
    assert np.array_equal(P.weight_order(np.array([0.1, -0.5, 0.5, 0.0])), [1, 2, 0, 3])  # ties: lower unit
    r = P.random_subsets(10, 4, 50, [0, 1])
    assert (r.sum(1) == 4).all() and len({tuple(row) for row in r}) > 40
    assert np.array_equal(r, P.random_subsets(10, 4, 50, [0, 1]))
    assert P.subset_size(100, 384) == 100 and P.subset_size(100, 128) == 64 and P.subset_size(100, 1) == 1


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_ablated_classifier_equals_a_fit_without_that_column(penalty):
    d = data_object(seed=4)
    for unit in (0, 17):
        mask = np.ones((1, d.n_units), bool)
        mask[0, unit] = False
        fit = fit_batch(d.x["train"], d.y["train"], mask, 0.3, penalty)
        assert fit.w[0, unit] == 0
        keep = np.delete(np.arange(d.n_units), unit)
        ref = sk_fit(np.delete(d.x["train"], unit, axis=1), d.y["train"], 0.3, penalty)
        assert np.abs(fit.w[0, keep] - ref.coef_[0]).max() < 2e-2 * max(1.0, np.abs(ref.coef_).max())


# ---- the protocol on a fixed seed against sklearn ------------------------------------------------------------

def sk_tune(d, cols, grid, penalty):
    """The protocol done by hand with sklearn: fit on train at each C, keep the best dev accuracy (ties: the
    smaller C), report that model's test accuracy."""
    best = None
    for c in sorted(grid):
        m = sk_fit(d.x["train"][:, cols], d.y["train"], c, penalty)
        dev = m.score(d.x["dev"][:, cols], d.y["dev"])
        if best is None or dev > best[0] + 1e-12:
            best = (dev, c, m)
    return best[1], best[2].score(d.x["test"][:, cols], d.y["test"]), best[2]


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_protocol_matches_sklearn_on_a_fixed_seed(penalty):
    d = data_object(n=2000, h=24, seed=5)
    grid = (0.01, 0.1, 1.0)
    suite = P.run_suite(d, grid, penalty, n_subsets=30, size=8, seed=[0, 7], tune_subsets=10)
    h = d.n_units
    c_all, acc_all, model = sk_tune(d, np.arange(h), grid, penalty)
    assert suite.all.c[0] == c_all and abs(suite.all.test[0] - acc_all) <= 0.005
    assert suite.sn == int(np.argmax(np.abs(model.coef_[0])))  # the SN: largest |weight|
    keep = np.delete(np.arange(h), suite.sn)
    c_del, acc_del, _ = sk_tune(d, keep, grid, penalty)
    assert suite.sn_deleted.c[0] == c_del and abs(suite.sn_deleted.test[0] - acc_del) <= 0.005
    for unit in (suite.sn, 3, 11):
        c_one, acc_one, _ = sk_tune(d, [unit], grid, penalty)
        assert abs(suite.single.test[unit] - acc_one) <= 0.005
    # the study's "hindrance" units (left out alone, test accuracy beats all units), then all of them at once
    hind = np.flatnonzero(suite.ablation > suite.all.test[0])
    assert suite.hindrance.tolist() == hind.tolist()
    if 0 < len(hind) < h:
        c_h, acc_h, _ = sk_tune(d, np.delete(np.arange(h), hind), grid, penalty)
        assert suite.hindrance_removed.c[0] == c_h and abs(suite.hindrance_removed.test[0] - acc_h) <= 0.005
    else:
        assert suite.hindrance_removed is None
    for unit in (suite.sn, 5):  # single-unit ablations at the all-units C
        cols = np.delete(np.arange(h), unit)
        ref = sk_fit(d.x["train"][:, cols], d.y["train"], suite.ablation_c, penalty)
        assert abs(suite.ablation[unit] - ref.score(d.x["test"][:, cols], d.y["test"])) <= 0.005
    for j in (0, 10, h - 2):  # cumulative: the j + 1 largest |weight| units removed
        cols = np.sort(suite.order[j + 1:])
        ref = sk_fit(d.x["train"][:, cols], d.y["train"], suite.ablation_c, penalty)
        assert abs(suite.cumulative[j] - ref.score(d.x["test"][:, cols], d.y["test"])) <= 0.005
    for s in (0, 13, 29):
        cols = np.flatnonzero(suite.subsets[s])
        ref = sk_fit(d.x["train"][:, cols], d.y["train"], suite.subset_c, penalty)
        assert abs(suite.subset_test[s] - ref.score(d.x["test"][:, cols], d.y["test"])) <= 0.005
    frame = P.unit_frame(suite)
    assert frame.loc[suite.sn, "weight_rank"] == 0 and np.isnan(frame.loc[suite.order[-1], "cumulative_accuracy"])
    assert frame.loc[suite.sn, "cumulative_accuracy"] == suite.cumulative[0]


# ---- config ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value,match", [
    ("penalties", ["l3"], "sentiment.penalties"), ("c_grid", [0.1, -1], "sentiment.c_grid"),
    ("c_grid", [], "sentiment.c_grid"), ("suite_features", ["first"], "sentiment.suite_features"),
    ("n_subsets", 0, "sentiment.n_subsets"), ("min_rows", 1, "sentiment.min_rows"),
    ("score_margin", -0.5, "sentiment.score_margin"), ("transformer_layers", ["x"], "sentiment.transformer_layers"),
    ("lstm_streams", "lstm1.cell", "sentiment.lstm_streams"), ("adversarial", "yes", "sentiment.adversarial"),
])
def test_bad_settings_name_the_parameter(key, value, match):
    with pytest.raises(PipelineError, match=match):
        SentimentConfig(**{key: value})


def test_settings_from_the_command_line_become_tuples(tiny_spec, small_specs):
    kw = apply_settings({}, ["sentiment.c_grid=[0.5, 2]", "sentiment.penalties=[\"l2\"]", "sentiment.n_subsets=10"])
    cfg = make_config(datasets=small_specs, models=[tiny_spec], **kw)
    assert cfg.sentiment.c_grid == (0.5, 2.0) and cfg.sentiment.penalties == ("l2",)
    assert cfg.sentiment.n_subsets == 10
    hash(cfg.sentiment)
