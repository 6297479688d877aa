"""Quantiles stage on the small warehouse: every stored example lies in its quantile's bounds as numpy computes them
from the stored activations, the draws have the configured sizes and halves, and the summary statistics equal
scipy.stats on the same values."""
import numpy as np
import pytest
from scipy import stats

import warehouse
from analysis.transfer import N_QUANTILES, quantile_sample
from pipeline.config import DatasetSpec, ModelSpec, make_config
from pipeline.errors import PipelineError
from pipeline.stages.quantiles import QuantilesConfig, layer_list

DATASETS = ("news", "pairs", "questions")


def _read(path):
    con = warehouse.connect_read_only(path)
    ex = con.execute("select * from quantile_examples").df()
    st = con.execute("select * from quantile_stats").df()
    acts = {}
    for (layer, pooling) in st[["layer", "pooling"]].drop_duplicates().itertuples(index=False):
        for d in DATASETS:
            acts[layer, pooling, d] = np.array(con.execute(
                "select vec from activations where run_id = 'tiny' and layer = ? and pooling = ? and dataset = ? "
                "order by sentence_id", [int(layer), pooling, d]).df()["vec"].tolist(), dtype=np.float32)
    con.close()
    return ex, st, acts


def test_stored_examples_fall_in_their_numpy_quantile_bounds(small_warehouse):
    ex, st, acts = _read(small_warehouse)
    cfg = QuantilesConfig()
    # the default: the last layer (2 of the tiny model's 0..2), every pooling, every dataset, every unit
    assert set(st["layer"]) == {2} and set(st["pooling"]) == {"cls", "mean"} and set(st["dataset"]) == set(DATASETS)
    assert len(st) == 2 * 3 * 32
    checked, inactive = 0, 0
    for (layer, pooling, d, unit), g in ex.groupby(["layer", "pooling", "dataset", "unit"]):
        v = acts[layer, pooling, d][:, unit].astype(np.float64)
        sparse = np.median(v) <= 0 < v.max()
        tau = 0.0 if sparse else float(np.median(v))
        active = v[v > tau]
        bounds = np.quantile(active, np.linspace(0, 1, N_QUANTILES + 1)) if len(active) else \
            np.full(N_QUANTILES + 1, np.nan)
        np.testing.assert_array_equal(g["value"].to_numpy(np.float32), v[g["sentence_id"]].astype(np.float32))
        assert g["sentence_id"].is_unique
        for q, gq in g.groupby("quantile"):
            vals = gq["value"].to_numpy(np.float64)
            if q == 0:
                assert (vals <= tau).all()
                pool = (v <= tau).sum()
                assert len(gq) == min(cfg.non_activating, pool)
            else:
                assert (vals > tau).all() and (vals >= bounds[q - 1]).all() and (vals <= bounds[q]).all()
                lower = bounds[q - 1] if q > 1 else -np.inf
                pool = ((active > lower) & (active <= bounds[q])).sum()
                assert len(gq) == min(cfg.per_quantile, pool)
            # alternate halves, held out first
            assert gq["heldout"].sum() == (len(gq) + 1) // 2
            checked += 1
        stored = st[(st["layer"] == layer) & (st["pooling"] == pooling) & (st["dataset"] == d)
                    & (st["unit"] == unit)].iloc[0]
        if len(active):
            np.testing.assert_allclose(np.asarray(stored["bounds"], dtype=np.float64), bounds)
        else:
            assert not isinstance(stored["bounds"], (list, np.ndarray))  # null: nothing to cut
        inactive += len(active) == 0
        assert stored["threshold"] == pytest.approx(tau)
    assert checked > 3 * 32 and inactive == 0  # every unit, several quantiles each


def test_summary_stats_equal_scipy_on_the_stored_values(small_warehouse):
    _, st, acts = _read(small_warehouse)
    for row in st.itertuples():
        v = acts[row.layer, row.pooling, row.dataset][:, row.unit].astype(np.float64)
        assert row.n == len(v)
        assert row.mean == pytest.approx(np.mean(v))
        assert row.variance == pytest.approx(np.var(v, ddof=1))
        assert row.skewness == pytest.approx(stats.skew(v))
        assert row.kurtosis == pytest.approx(stats.kurtosis(v))
        assert row.density == pytest.approx((v > 0).mean())
        sparse = np.median(v) <= 0 < v.max()
        assert row.kind == ("sparse" if sparse else "dense")
        assert row.n_active == (v > (0.0 if sparse else np.median(v))).sum()


def test_a_sparse_unit_is_active_where_it_fires():
    # a ReLU-like unit: zero on 90 sentences, positive on 30
    v = np.zeros(120)
    v[::4] = np.arange(1, 31, dtype=float)
    s = quantile_sample(v, per_quantile=2, non_activating=10, seed=[0])
    assert (s.loc[s["quantile"] == 0, "value"] == 0).all() and (s["quantile"] == 0).sum() == 10
    active = s[s["quantile"] > 0]
    assert len(active) == 20 and (active["value"] > 0).all()
    # quantile 10 holds the strongest three (28..30), quantile 1 the weakest three (1..3)
    assert set(active.loc[active["quantile"] == 10, "value"]) <= {28.0, 29.0, 30.0}
    assert set(active.loc[active["quantile"] == 1, "value"]) <= {1.0, 2.0, 3.0}
    # a dense unit, negative everywhere (a residual dimension with an offset): its upper half is activating
    d = quantile_sample(-np.arange(1, 101, dtype=float), per_quantile=5, non_activating=50, seed=[1])
    assert (d.loc[d["quantile"] > 0, "value"] > -50.5).all() and (d["quantile"] > 0).sum() == 50
    assert (d.loc[d["quantile"] == 0, "value"] <= -50.5).all() and (d["quantile"] == 0).sum() == 50
    # the same seed draws the same sample
    assert s.equals(quantile_sample(v, per_quantile=2, non_activating=10, seed=[0]))


def test_layer_list():
    assert layer_list(7, (-1,)) == [6] and layer_list(7, ()) == list(range(7)) and layer_list(3, (0, -1)) == [0, 2]
    with pytest.raises(PipelineError, match=r"quantiles.layers has 7, but the run stores 7 layers"):
        layer_list(7, (7,))


@pytest.mark.parametrize("section, message", [
    ({"per_quantile": 0}, r"quantiles.per_quantile must be an integer >= 1, got 0"),
    ({"layers": [1, 1]}, r"quantiles.layers must be a list of distinct layer indices"),
    ({"enabled": "no"}, r"quantiles.enabled must be true or false"),
])
def test_settings_are_checked(section, message):
    with pytest.raises(PipelineError, match=message) as e:
        make_config(datasets=[DatasetSpec("a", "file", "x.csv")], models=[ModelSpec("m", "transformer", "x")],
                    quantiles=section)
    assert "\n" not in str(e.value)
