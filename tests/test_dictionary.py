"""Dictionaries (pipeline.models.dictionary): SAELens folders written by hand, directions files, the TopK trainer.

Every encoding is checked against the SAE formula computed here in numpy (float64) from the weights written to
disk; the trainer against a synthetic sparse mixture whose atoms are known.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from pipeline.errors import PipelineError
from pipeline.models.dictionary import (Dictionary, _sparse_encoder, geometric_median, load_dictionary,
                                        load_directions, load_saelens, save_saelens, train_topk_sae)

D_IN, D_SAE, K = 16, 40, 5


# -- helpers -----------------------------------------------------------------------------------------------------
def random_weights(seed: int = 0, d_in: int = D_IN, d_sae: int = D_SAE, jumprelu: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    w = {"W_enc": rng.normal(size=(d_in, d_sae)).astype(np.float32) / np.sqrt(d_in),
         "b_enc": rng.normal(scale=0.3, size=d_sae).astype(np.float32),
         "W_dec": rng.normal(size=(d_sae, d_in)).astype(np.float32) / np.sqrt(d_in),
         "b_dec": rng.normal(scale=0.5, size=d_in).astype(np.float32)}
    if jumprelu:
        w["threshold"] = rng.uniform(0.05, 0.6, size=d_sae).astype(np.float32)
    return w


def write_sae(folder, weights: dict, cfg: dict):
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


def cfg_v5(activation="relu", k=None, **extra) -> dict:
    """A pre-6.0 SAELens config: architecture standard, activation_fn_str, activation_fn_kwargs, flat hook_name."""
    cfg = {"architecture": "standard", "d_in": D_IN, "d_sae": D_SAE, "activation_fn_str": activation,
           "activation_fn_kwargs": {"k": k} if k else {}, "apply_b_dec_to_input": True, "dtype": "float32",
           "hook_name": "blocks.3.hook_resid_post", "normalize_activations": "none", "model_name": "tiny"}
    cfg.update(extra)
    return cfg


def cfg_v6(architecture="standard", **extra) -> dict:
    """A 6.x SAELens config: architecture names the kind, top-level k, metadata.hook_name."""
    cfg = {"architecture": architecture, "d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": False, "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"hook_name": "blocks.5.hook_resid_post", "sae_lens_version": "6.5.0"}}
    cfg.update(extra)
    return cfg


def ref_pre(x, w, apply_b_dec=True):
    x = x.astype(np.float64)
    if apply_b_dec:
        x = x - w["b_dec"].astype(np.float64)
    return x @ w["W_enc"].astype(np.float64) + w["b_enc"].astype(np.float64)


def ref_encode(x, w, kind, apply_b_dec=True, k=None):
    pre = ref_pre(x, w, apply_b_dec)
    if kind == "relu":
        return np.maximum(pre, 0)
    if kind == "jumprelu":
        return pre * (pre > w["threshold"].astype(np.float64))
    assert kind == "topk"
    r = np.maximum(pre, 0)
    out = np.zeros_like(r)
    top = np.argsort(-r, axis=1)[:, :k]
    rows = np.arange(len(r))[:, None]
    out[rows, top] = r[rows, top]
    return out


def sample_x(n=300, seed=1, d=D_IN):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def one_line_error(fn, *must_contain):
    with pytest.raises(PipelineError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg
    for part in must_contain:
        assert str(part) in msg, (part, msg)
    return msg


# -- SAELens layout: encodings equal the formula -----------------------------------------------------------------
@pytest.mark.parametrize("apply_b_dec", [True, False])
def test_relu_sae_matches_numpy(tmp_path, apply_b_dec):
    w = random_weights(0)
    folder = write_sae(tmp_path / "sae", w, cfg_v5("relu", apply_b_dec_to_input=apply_b_dec))
    d = load_saelens(folder, d_in=D_IN)
    assert (d.kind, d.d_in, d.n_features, d.hook_name) == ("sae-relu", D_IN, D_SAE, "blocks.3.hook_resid_post")
    x = sample_x()
    a = d.encode(x, batch_size=64)
    assert a.dtype == np.float32 and a.shape == (len(x), D_SAE)
    np.testing.assert_allclose(a, ref_encode(x, w, "relu", apply_b_dec), atol=2e-5)
    assert 0 < (a > 0).mean() < 1  # the test data exercises both sides of the ReLU
    np.testing.assert_array_equal(d.directions, w["W_dec"])


def test_jumprelu_sae_matches_numpy(tmp_path):
    w = random_weights(2, jumprelu=True)
    d = load_saelens(write_sae(tmp_path / "sae", w, cfg_v6("jumprelu")), d_in=D_IN)
    assert d.kind == "sae-jumprelu" and d.hook_name == "blocks.5.hook_resid_post"
    x = sample_x(seed=3)
    a = d.encode(x)
    ref = ref_encode(x, w, "jumprelu", apply_b_dec=False)
    np.testing.assert_allclose(a, ref, atol=2e-5)
    pre = ref_pre(x, w, False)
    # some pre-activations are positive but under their threshold: JumpReLU zeroes them, a ReLU would not
    assert np.any((pre > 0) & (pre <= w["threshold"]))
    assert np.all(a[(pre > 0) & (pre <= w["threshold"] - 1e-4)] == 0)


def test_jumprelu_log_threshold_is_exponentiated(tmp_path):
    w = random_weights(4, jumprelu=True)
    w_log = {**{k: v for k, v in w.items() if k != "threshold"}, "log_threshold": np.log(w["threshold"])}
    d = load_saelens(write_sae(tmp_path / "sae", w_log, cfg_v6("jumprelu")))
    np.testing.assert_allclose(d.threshold, w["threshold"], rtol=1e-6)


@pytest.mark.parametrize("style", ["v5", "v6"])
def test_topk_sae_matches_numpy(tmp_path, style):
    w = random_weights(5)
    w["b_enc"] -= 1.0  # so that some rows have fewer than k positive pre-activations
    cfg = cfg_v5("topk", k=K) if style == "v5" else cfg_v6("topk", k=K, apply_b_dec_to_input=True)
    d = load_saelens(write_sae(tmp_path / style, w, cfg), d_in=D_IN)
    assert d.kind == "sae-topk" and d.k == K
    x = sample_x(seed=6)
    a = d.encode(x, batch_size=50)
    np.testing.assert_allclose(a, ref_encode(x, w, "topk", True, K), atol=2e-5)
    nnz = (a > 0).sum(axis=1)
    assert nnz.max() == K and nnz.min() < K  # rows with fewer than k positive pre-activations keep only those


def test_csr_and_blocks_equal_dense(tmp_path):
    for kind, w, cfg in [("topk", random_weights(7), cfg_v5("topk", k=K)),
                         ("relu", random_weights(8), cfg_v5("relu"))]:
        d = load_saelens(write_sae(tmp_path / kind, w, cfg))
        x = sample_x(n=257, seed=9)
        dense = d.encode(x)
        csr = d.encode_csr(x, batch_size=100)
        assert csr.shape == dense.shape and csr.dtype == np.float32
        np.testing.assert_array_equal(csr.toarray(), dense)
        assert csr.nnz == int((dense != 0).sum())
        assert csr.has_sorted_indices
        blocks = list(d.iter_encode(x, batch_size=100))
        assert [s for s, _ in blocks] == [0, 100, 200]
        np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), dense)


def test_decode_reconstruct_and_explained_variance(tmp_path):
    w = random_weights(10)
    d = load_saelens(write_sae(tmp_path / "sae", w, cfg_v5("topk", k=K)))
    x = sample_x(seed=11)
    a = d.encode(x)
    np.testing.assert_allclose(d.decode(a), a.astype(np.float64) @ w["W_dec"] + w["b_dec"], atol=2e-5)
    x_hat = ref_encode(x, w, "topk", True, K) @ w["W_dec"].astype(np.float64) + w["b_dec"]
    np.testing.assert_allclose(d.reconstruct(x), x_hat, atol=2e-5)
    ev = 1 - np.sum((x - x_hat) ** 2) / np.sum((x - x.mean(0)) ** 2)
    assert d.explained_variance(x) == pytest.approx(ev, abs=1e-5)


def test_normalize_activations_per_token(tmp_path):
    w = random_weights(12)
    x = sample_x(seed=13) * 3 + 1
    d = load_saelens(write_sae(tmp_path / "cnr", w, cfg_v5("relu", normalize_activations="constant_norm_rescale")))
    coef = np.sqrt(D_IN) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    a_ref = ref_encode(x * coef, w, "relu")
    np.testing.assert_allclose(d.encode(x), a_ref, atol=2e-5)
    np.testing.assert_allclose(d.reconstruct(x), (a_ref @ w["W_dec"] + w["b_dec"]) / coef, atol=5e-5)

    d = load_saelens(write_sae(tmp_path / "ln", w, cfg_v5("relu", normalize_activations="layer_norm")))
    mu, sd = x.mean(1, keepdims=True), x.std(1, ddof=1, keepdims=True)
    a_ref = ref_encode((x - mu) / (sd + 1e-5), w, "relu")
    np.testing.assert_allclose(d.encode(x), a_ref, atol=2e-5)
    np.testing.assert_allclose(d.reconstruct(x), (a_ref @ w["W_dec"] + w["b_dec"]) * sd + mu, atol=5e-5)


def test_expected_average_only_in_folds_the_factor(tmp_path):
    w = random_weights(14, jumprelu=True)
    folder = write_sae(tmp_path / "sae", w, cfg_v6("jumprelu", apply_b_dec_to_input=True,
                                                  normalize_activations="expected_average_only_in"))
    one_line_error(lambda: load_saelens(folder), "cfg.json", "normalize_activations", "norm_scaling_factor")
    s = 0.37
    d = load_saelens(folder, norm_scaling_factor=s)
    assert d.normalize_activations == "none"
    x = sample_x(seed=15)
    a_ref = ref_encode(x * s, w, "jumprelu", apply_b_dec=True)  # the SAE saw x scaled by s
    np.testing.assert_allclose(d.encode(x), a_ref, atol=2e-5)
    np.testing.assert_allclose(d.reconstruct(x), (a_ref @ w["W_dec"] + w["b_dec"]) / s, atol=5e-5)


def test_topk_rescale_acts_by_decoder_norm(tmp_path):
    w = random_weights(16)
    w["W_dec"] *= np.random.default_rng(0).uniform(0.2, 3, size=(D_SAE, 1)).astype(np.float32)
    d = load_saelens(write_sae(tmp_path / "sae", w, cfg_v6("topk", k=K, rescale_acts_by_decoder_norm=True)))
    x = sample_x(seed=17)
    norms = np.linalg.norm(w["W_dec"].astype(np.float64), axis=1)
    pre = ref_pre(x, w, False) * norms
    scaled = {**w, "W_enc": w["W_enc"] * norms[None, :].astype(np.float32), "b_enc": w["b_enc"] * norms}
    a_ref = ref_encode(x, scaled, "topk", False, K)
    assert np.allclose(ref_pre(x, scaled, False), pre, atol=1e-5)
    np.testing.assert_allclose(d.encode(x), a_ref, atol=5e-5)
    np.testing.assert_allclose(d.reconstruct(x), (a_ref / norms) @ w["W_dec"] + w["b_dec"], atol=5e-5)


def test_finetuning_scaling_factor_is_folded_into_the_decoder(tmp_path):
    w = random_weights(18)
    f = np.random.default_rng(1).uniform(0.5, 2, size=D_SAE).astype(np.float32)
    d = load_saelens(write_sae(tmp_path / "sae", {**w, "scaling_factor": f}, cfg_v5("relu")))
    x = sample_x(seed=19)
    a = ref_encode(x, w, "relu")
    np.testing.assert_allclose(d.encode(x), a, atol=2e-5)
    np.testing.assert_allclose(d.reconstruct(x), (a * f) @ w["W_dec"] + w["b_dec"], atol=5e-5)


def test_bfloat16_weights_are_upcast(tmp_path):
    from safetensors.torch import save_file as save_torch

    w = random_weights(20)
    folder = tmp_path / "sae"
    folder.mkdir()
    save_torch({k: torch.tensor(v).to(torch.bfloat16) for k, v in w.items()}, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg_v5("relu", dtype="bfloat16")))
    d = load_saelens(folder)
    assert d.W_enc.dtype == np.float32
    np.testing.assert_allclose(d.W_enc, w["W_enc"], rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("kind,cfg", [("relu", cfg_v5("relu")), ("jumprelu", cfg_v6("jumprelu")),
                                      ("topk", cfg_v5("topk", k=K))])
def test_save_saelens_round_trip(tmp_path, kind, cfg):
    w = random_weights(21, jumprelu=kind == "jumprelu")
    d = load_saelens(write_sae(tmp_path / "in", w, cfg))
    out = save_saelens(d, tmp_path / "out", model_name="tiny", extra={"note": "round trip"})
    written = json.loads((out / "cfg.json").read_text())
    assert written["d_in"] == D_IN and written["d_sae"] == D_SAE
    assert written["architecture"] == {"relu": "standard", "jumprelu": "jumprelu", "topk": "topk"}[kind]
    if kind == "topk":
        assert written["k"] == K and written["activation_fn_kwargs"] == {"k": K}
    back = load_saelens(out, d_in=D_IN)
    assert (back.kind, back.k, back.apply_b_dec_to_input, back.hook_name) == \
        (d.kind, d.k, d.apply_b_dec_to_input, d.hook_name)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold"):
        a, b = getattr(d, name), getattr(back, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    x = sample_x(seed=22)
    np.testing.assert_array_equal(back.encode(x), d.encode(x))


def test_dictionary_arrays_are_read_only(tmp_path):
    d = load_saelens(write_sae(tmp_path / "sae", random_weights(23), cfg_v5("relu")))
    with pytest.raises(ValueError):
        d.W_enc[0, 0] = 1.0


# -- directions files --------------------------------------------------------------------------------------------
def _directions(seed=30, n=7, d=D_IN):
    return (np.random.default_rng(seed).normal(size=(n, d)) * np.arange(1, n + 1)[:, None]).astype(np.float32)


@pytest.mark.parametrize("suffix", [".npy", ".pt", ".safetensors"])
def test_directions_files_load_and_project(tmp_path, suffix):
    D = _directions()
    path = tmp_path / f"dirs{suffix}"
    if suffix == ".npy":
        np.save(path, D)
    elif suffix == ".pt":
        torch.save(torch.tensor(D), path)
    else:
        save_file({"directions": D}, str(path))
    x = sample_x(seed=31)
    unit = D / np.linalg.norm(D.astype(np.float64), axis=1, keepdims=True)
    d = load_dictionary(path, d_in=D_IN)
    assert (d.kind, d.n_features, d.d_in) == ("directions", 7, D_IN)
    np.testing.assert_allclose(d.encode(x), x.astype(np.float64) @ unit.T, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(d.directions, axis=1), 1, atol=1e-6)
    raw = load_directions(path, d_in=D_IN, normalize=False)
    np.testing.assert_allclose(raw.encode(x), x.astype(np.float64) @ D.T, rtol=1e-5, atol=1e-4)
    # a one-hot direction reproduces its neuron exactly
    eye = tmp_path / "eye.npy"
    np.save(eye, np.eye(D_IN, dtype=np.float32)[[3, 0]])
    np.testing.assert_array_equal(load_directions(eye).encode(x), x[:, [3, 0]])


def test_directions_key_selects_among_several_tensors(tmp_path):
    D = _directions()
    path = tmp_path / "probe.pt"
    torch.save({"weight": torch.tensor(D), "bias": torch.zeros(7)}, path)
    one_line_error(lambda: load_directions(path), str(path), "key", "bias", "weight")
    d = load_directions(path, key="weight", normalize=False)
    np.testing.assert_array_equal(d.directions, D)


def test_load_dictionary_dispatches(tmp_path):
    w = random_weights(32)
    folder = write_sae(tmp_path / "sae", w, cfg_v5("relu"))
    for p in (folder, folder / "cfg.json", folder / "sae_weights.safetensors"):
        assert load_dictionary(p, d_in=D_IN).kind == "sae-relu"
    np.save(tmp_path / "d.npy", _directions())
    assert load_dictionary(tmp_path / "d.npy").kind == "directions"


# -- bad input: one line naming the file and the parameter -------------------------------------------------------
def test_d_in_mismatch_names_cfg_and_site(tmp_path):
    folder = write_sae(tmp_path / "sae", random_weights(40), cfg_v5("relu"))
    msg = one_line_error(lambda: load_dictionary(folder, d_in=384, site="blocks.5.hook_resid_post"),
                         folder / "cfg.json", "d_in", "16", "384", "blocks.5.hook_resid_post")
    assert msg.startswith(f"{folder / 'cfg.json'}: d_in is 16")  # the file first, then the parameter


def test_missing_files(tmp_path):
    folder = write_sae(tmp_path / "sae", random_weights(41), cfg_v5("relu"))
    (folder / "sae_weights.safetensors").unlink()
    msgs = {folder: one_line_error(lambda: load_saelens(folder), folder, "sae_weights.safetensors")}
    other = write_sae(tmp_path / "sae2", random_weights(41), cfg_v5("relu"))
    (other / "cfg.json").unlink()
    msgs[other] = one_line_error(lambda: load_dictionary(other), other, "cfg.json")
    nowhere = tmp_path / "nowhere"
    msgs[nowhere] = one_line_error(lambda: load_dictionary(nowhere), nowhere, "no such file")
    npy = tmp_path / "nowhere.npy"
    msgs[npy] = one_line_error(lambda: load_directions(npy), "nowhere.npy")
    # each names the missing path first
    assert all(m.startswith(f"{path}: no ") for path, m in msgs.items()), msgs


@pytest.mark.parametrize("cfg,params", [
    (cfg_v5("gelu"), ["activation_fn", "gelu"]),
    (cfg_v5("relu", architecture="gated"), ["architecture", "gated"]),
    (cfg_v6("topk"), ["k"]),
    (cfg_v5("topk", k=D_SAE + 1), ["k"]),
    (cfg_v5("relu", normalize_activations="whiten"), ["normalize_activations", "whiten"]),
    ({**cfg_v5("relu"), "d_sae": "forty"}, ["d_sae"]),
])
def test_bad_config(tmp_path, cfg, params):
    folder = write_sae(tmp_path / "sae", random_weights(42), cfg)
    msg = one_line_error(lambda: load_saelens(folder), folder / "cfg.json", *params)
    assert msg.startswith(f"{folder / 'cfg.json'}: ")  # the file first, then what is wrong in it


def test_bad_weights(tmp_path):
    w = random_weights(43)
    msgs = []
    bad = {**w, "W_enc": w["W_enc"].copy()}
    bad["W_enc"][2, 3] = np.nan
    f = write_sae(tmp_path / "nan", bad, cfg_v5("relu"))
    msgs.append(one_line_error(lambda: load_saelens(f), f / "sae_weights.safetensors", "W_enc", "non-finite"))
    f = write_sae(tmp_path / "missing", {k: v for k, v in w.items() if k != "b_enc"}, cfg_v5("relu"))
    msgs.append(one_line_error(lambda: load_saelens(f), f / "sae_weights.safetensors", "b_enc"))
    f = write_sae(tmp_path / "shape", {**w, "W_dec": w["W_dec"].T.copy()}, cfg_v5("relu"))
    msgs.append(one_line_error(lambda: load_saelens(f), f / "sae_weights.safetensors", "W_dec", "(16, 40)", "(40, 16)"))
    f = write_sae(tmp_path / "nothr", w, cfg_v6("jumprelu"))
    msgs.append(one_line_error(lambda: load_saelens(f), f / "sae_weights.safetensors", "threshold"))
    f = write_sae(tmp_path / "corrupt", w, cfg_v5("relu"))
    (f / "sae_weights.safetensors").write_bytes(b"not a safetensors file")
    msgs.append(one_line_error(lambda: load_saelens(f), f / "sae_weights.safetensors"))
    f = write_sae(tmp_path / "json", w, cfg_v5("relu"))
    (f / "cfg.json").write_text("{ d_in: 16,")
    msgs.append(one_line_error(lambda: load_saelens(f), f / "cfg.json", "JSON"))
    # every message names the file at fault first: the weights file, or cfg.json for bad JSON
    assert [m.split(": ", 1)[0].rsplit("/", 1)[-1] for m in msgs] == ["sae_weights.safetensors"] * 5 + ["cfg.json"]


def test_bad_directions(tmp_path):
    p = tmp_path / "d3.npy"
    np.save(p, np.zeros((2, 3, D_IN), np.float32))
    one_line_error(lambda: load_directions(p), p, "2-D", "(2, 3, 16)")
    p = tmp_path / "d1.npy"
    np.save(p, np.ones(D_IN, np.float32))
    one_line_error(lambda: load_directions(p), p, "2-D")
    p = tmp_path / "wide.npy"
    np.save(p, np.ones((5, 20), np.float32))
    one_line_error(lambda: load_directions(p, d_in=D_IN, site="blocks.1.hook_resid_post"), p, "d_model", "20", "16",
                   "blocks.1.hook_resid_post")
    p = tmp_path / "transposed.safetensors"
    save_file({"directions": np.ones((D_IN, 5), np.float32)}, str(p))
    one_line_error(lambda: load_directions(p, d_in=D_IN), p, "transposed")
    p = tmp_path / "inf.npy"
    a = np.ones((3, D_IN), np.float32)
    a[1, 1] = np.inf
    np.save(p, a)
    one_line_error(lambda: load_directions(p), p, "non-finite")
    p = tmp_path / "zero.npy"
    np.save(p, np.zeros((3, D_IN), np.float32))
    one_line_error(lambda: load_directions(p), p, "row 0")
    assert load_directions(p, normalize=False).n_features == 3
    p = tmp_path / "dirs.csv"
    p.write_text("1,2\n")
    one_line_error(lambda: load_directions(p), p, ".csv")


# -- training ----------------------------------------------------------------------------------------------------
def sparse_mixture(n=20000, d=32, n_atoms=48, active=3, seed=0):
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(n_atoms, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, n_atoms)), axis=1)[:, :active]
    coef = np.zeros((n, n_atoms))
    np.put_along_axis(coef, idx, rng.uniform(0.5, 2.0, size=(n, active)), axis=1)
    x = coef @ atoms + 0.01 * rng.normal(size=(n, d)) + 0.3
    return x.astype(np.float32), atoms


def numpy_topk_encode(x, d: Dictionary):
    pre = (x.astype(np.float64) - d.b_dec) @ d.W_enc.astype(np.float64) + d.b_enc
    r = np.maximum(pre, 0)
    thresh = -np.sort(-r, axis=1)[:, d.k - 1:d.k]
    return np.where((r >= thresh) & (r > 0), r, 0.0)


@pytest.fixture(scope="module")
def trained():
    x, atoms = sparse_mixture()
    d, report = train_topk_sae(x, expansion=2, k=3, seed=0, steps=2000, batch_size=256, progress=False)
    return x, atoms, d, report


def test_topk_sae_recovers_the_atoms(trained):
    x, atoms, d, report = trained
    assert (d.kind, d.n_features, d.k, d.d_in) == ("sae-topk", 64, 3, 32)
    np.testing.assert_allclose(np.linalg.norm(d.directions, axis=1), 1, atol=1e-5)
    best = (atoms @ d.unit_directions().T.astype(np.float64)).max(axis=1)
    assert np.mean(best > 0.9) >= 0.85 and np.median(best) > 0.99, np.sort(best)[:8]
    assert report.explained_variance_heldout > 0.9


def test_train_report_matches_numpy(trained):
    x, _, d, r = trained
    assert r.n_train + r.n_heldout == len(x) and r.n_heldout == 2000
    assert len(np.intersect1d(r.heldout_index, r.train_eval_index)) == 0
    for idx, ev, dens in [(r.heldout_index, r.explained_variance_heldout, r.density),
                          (r.train_eval_index, r.explained_variance_train, r.density_train)]:
        xs = x[idx].astype(np.float64)
        a = numpy_topk_encode(x[idx], d)
        x_hat = a @ d.W_dec.astype(np.float64) + d.b_dec
        assert ev == pytest.approx(1 - np.sum((xs - x_hat) ** 2) / np.sum((xs - xs.mean(0)) ** 2), abs=1e-5)
        np.testing.assert_allclose(dens, (a > 0).mean(axis=0), atol=3 / len(idx))
    a_held = numpy_topk_encode(x[r.heldout_index], d)
    assert r.dead_features == int(np.sum(r.density == 0))
    assert r.l0_mean == pytest.approx((a_held > 0).sum(axis=1).mean(), abs=1e-3)
    assert r.steps == 2000 and r.fvu_history.shape == (2000,)
    assert r.fvu_history[-100:].mean() < r.fvu_history[:20].mean()
    assert r.summary()["k"] == 3 and isinstance(json.dumps(r.summary()), str)


def test_trained_sae_round_trips_through_saelens(trained, tmp_path):
    x, _, d, _ = trained
    back = load_saelens(save_saelens(d, tmp_path / "sae", hook_name="blocks.5.hook_resid_post"), d_in=32)
    np.testing.assert_array_equal(back.encode(x[:500]), d.encode(x[:500]))
    assert back.hook_name == "blocks.5.hook_resid_post"


def test_training_is_deterministic_for_a_seed():
    x, _ = sparse_mixture(n=3000, seed=1)
    runs = [train_topk_sae(x, expansion=2, k=3, seed=s, steps=60, batch_size=128, progress=False)[0]
            for s in (4, 4, 5)]
    assert np.array_equal(runs[0].W_enc, runs[1].W_enc) and np.array_equal(runs[0].b_dec, runs[1].b_dec)
    assert not np.array_equal(runs[0].W_enc, runs[2].W_enc)


def test_dead_latents_get_the_aux_loss():
    # A wide dictionary on a low-rank signal leaves latents that never win a top-k slot. Without AuxK such a
    # latent never gets a gradient, so its encoder column is still its initial value (the documented init:
    # seeded random unit decoder rows, the encoder their transpose); with AuxK every latent that was dead long
    # enough was trained to predict the residual, so none is left at its initial value.
    x, _ = sparse_mixture(n=6000, d=16, n_atoms=8, active=2, seed=2)
    m, seed = 128, 0
    common = dict(n_features=m, k=2, seed=seed, steps=300, batch_size=256, progress=False, dead_after_tokens=2560)
    no_aux, r_no_aux = train_topk_sae(x, aux_coef=0.0, **common)
    aux, _ = train_topk_sae(x, **common)
    init = torch.randn(m, 16, generator=torch.Generator().manual_seed(seed))
    init = (init / torch.linalg.vector_norm(init, dim=1, keepdim=True)).numpy()
    untouched = np.all(no_aux.W_enc == init.T, axis=0)
    assert untouched.sum() > 0
    # (b_dec moved during training, so an untouched latent may now fire on the odd token; it is still all but dead)
    assert r_no_aux.density_train[untouched].max() < 0.005
    assert not np.any(np.all(aux.W_enc == init.T, axis=0))


def test_train_rejects_bad_arguments():
    x, _ = sparse_mixture(n=2000, d=8, n_atoms=4)
    with pytest.raises(ValueError, match="k"):
        train_topk_sae(x, expansion=1, k=9, progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        train_topk_sae(np.full((2000, 8), np.nan, np.float32), progress=False)
    with pytest.raises(ValueError, match="batch"):
        train_topk_sae(x[:500], batch_size=1024, progress=False)
    with pytest.raises(ValueError, match="shape"):
        train_topk_sae(x[:, 0], progress=False)


def test_geometric_median_is_a_stationary_point():
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=(200, 3)), rng.normal(loc=20, size=(20, 3))])  # outliers pull the mean
    m = geometric_median(x)
    u = (m - x) / np.linalg.norm(m - x, axis=1, keepdims=True)
    assert np.linalg.norm(u.sum(axis=0)) < 1e-3 * len(x)
    ref = minimize(lambda p: np.linalg.norm(x - p, axis=1).sum(), x.mean(0), method="Nelder-Mead",
                   options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000}).x
    np.testing.assert_allclose(m, ref, atol=1e-3)
    assert np.linalg.norm(m) < np.linalg.norm(x.mean(0))


def test_sparse_encoder_gradients_equal_dense_autograd():
    torch.manual_seed(0)
    x = torch.randn(9, 6, dtype=torch.double, requires_grad=True)
    W = torch.randn(6, 13, dtype=torch.double, requires_grad=True)
    b = torch.randn(13, dtype=torch.double, requires_grad=True)
    with torch.no_grad():
        pre = torch.addmm(b, x, W)
        idx = pre.topk(4, dim=1).indices
    g = torch.randn(9, 4, dtype=torch.double)
    (_sparse_encoder().apply(x, W, b, idx, pre) * g).sum().backward()
    sparse = [t.grad.clone() for t in (x, W, b)]
    for t in (x, W, b):
        t.grad = None
    (torch.addmm(b, x, W).gather(1, idx) * g).sum().backward()
    for s, t in zip(sparse, (x, W, b)):
        torch.testing.assert_close(s, t.grad)
