"""A decoder LM through ``pipeline build`` and every page: tiny random GPT-2 and Llama folders (the ones
tests/test_decoder.py saves with ``save_pretrained``) over three small file datasets.

A decoder model spec gives two runs (``ModelSpec.run_specs``): ``<run_id>`` of the residual stream and
``<run_id>-mlp`` of the MLP post-activation neurons. The stored vectors are checked against references made
here without the runner: the same folder loaded with the ``*ForCausalLM`` class, one sentence at a time,
unpadded; ``output_hidden_states`` for the residual stream, and for the MLP a manual forward of each block's
MLP on its input (caught with a hook on the MLP module, not on the projection the runner hooks).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import warehouse
from warehouse.contracts import violations
from pipeline.config import DatasetSpec, ModelSpec, make_config
from pipeline.errors import PipelineError
from tests.conftest import ROOT, small_datasets
from tests.sentiment_data import reviews
from tests.test_decoder import make_model, make_tokenizer

N_BLOCKS, D_MODEL, MAX_LENGTH = 2, 32, 64
D_MLP = {"gpt2": 4 * D_MODEL, "llama": 64}  # GPT-2's default n_inner is 4 x n_embd
PAGES = sorted(p.stem for p in (ROOT / "views").glob("*.py"))
SENTIMENT = {"c_grid": [0.25, 1.0], "n_subsets": 10, "long_chars": 100, "long_repeats": 2,
             "datasets": ["reviews"]}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = {}
    for arch in D_MLP:
        tok = make_tokenizer(bos=arch == "llama")
        model = make_model(arch, len(tok), tok.eos_token_id).eval()
        folder = tmp_path_factory.mktemp(f"decoder-{arch}")
        model.save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
        out[arch] = folder
    return out


@pytest.fixture(scope="module")
def dataset_specs(fixture_files, tmp_path_factory):
    """questions (score) and news (class) from conftest, and 80 binary reviews for the sentiment stage."""
    path = tmp_path_factory.mktemp("decoder-data") / "reviews.csv"
    reviews(80, seed=3).to_csv(path, index=False)
    keep = [d for d in small_datasets(fixture_files) if d.name != "pairs"]
    return keep + [DatasetSpec(name="reviews", source="file", path=str(path), text="review", label="polarity",
                               label_kind="binary")]


def _build(folder, specs, path, lines, **model):
    from pipeline.build import build

    spec = ModelSpec("dec", "decoder", str(folder), max_length=MAX_LENGTH, batch_size=8, device="cpu", **model)
    # float32 storage: these tests check the hooks and poolings to 1e-4; the int16 codes are tests/test_storage.py's
    cfg = make_config(datasets=specs, models=[spec], warehouse=str(path), topk=5, progress=False,
                      sentiment=SENTIMENT, storage={"activations": "float32"})
    return build(cfg, log=lines.append)


@pytest.fixture(scope="module")
def built(folders, dataset_specs, tmp_path_factory):
    """arch -> (warehouse path, the build's log lines, its report)."""
    out = {}
    for arch, folder in folders.items():
        lines: list[str] = []
        path = tmp_path_factory.mktemp(f"wh-{arch}") / "w.duckdb"
        report = _build(folder, dataset_specs, path, lines)
        out[arch] = (path, lines, report)
    return out


def _stored(path, run_id: str, layer: int, pooling: str, dataset: str) -> np.ndarray:
    con = warehouse.connect_read_only(path)
    try:
        vecs = con.execute("select vec from activations where run_id = ? and layer = ? and pooling = ? and "
                           "dataset = ? order by sentence_id", [run_id, layer, pooling, dataset]).df()["vec"]
    finally:
        con.close()
    return np.array(vecs.tolist(), dtype=np.float32)


def _texts(path, dataset: str) -> list[str]:
    con = warehouse.connect_read_only(path)
    try:
        return [r[0] for r in con.execute("select text from sentences where dataset = ? order by sentence_id",
                                          [dataset]).fetchall()]
    finally:
        con.close()


def _reference(folder, arch: str, texts: list[str]):
    """Per text, unpadded, cut at MAX_LENGTH tokens as the build cuts it, without the runner: (residual
    [n_blocks + 1, T, d], MLP post-activations [n_blocks, T, d_mlp], own-token mask [T]: not a special token).

    hidden_states[l] for l < n_blocks is the residual after block l (0: the embeddings); the last entry is after
    the final norm, so the last block's raw output is caught with a forward hook on that block. The MLP
    post-activation is computed by hand from the MLP's input: act(c_fc(x)) for GPT-2, act(gate(x)) * up(x) for
    Llama."""
    from transformers import AutoTokenizer, GPT2LMHeadModel, LlamaForCausalLM

    cls = GPT2LMHeadModel if arch == "gpt2" else LlamaForCausalLM
    model = cls.from_pretrained(str(folder)).eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    blocks = model.transformer.h if arch == "gpt2" else model.model.layers
    out = []
    for text in texts:
        enc = tok(text, return_tensors="pt", return_special_tokens_mask=True, truncation=True, max_length=MAX_LENGTH)
        mlp_in, last_block = {}, {}
        handles = [b.mlp.register_forward_hook(lambda m, a, o, i=i: mlp_in.__setitem__(i, a[0][0]))
                   for i, b in enumerate(blocks)]
        handles.append(blocks[-1].register_forward_hook(
            lambda m, a, o: last_block.__setitem__("h", (o[0] if isinstance(o, tuple) else o)[0])))
        with torch.no_grad():
            hs = model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states
            mlps = []
            for i, b in enumerate(blocks):
                x = mlp_in[i]
                if arch == "gpt2":
                    mlps.append(b.mlp.act(b.mlp.c_fc(x)))
                else:
                    mlps.append(b.mlp.act_fn(b.mlp.gate_proj(x)) * b.mlp.up_proj(x))
        for h in handles:
            h.remove()
        resid = torch.stack([h[0] for h in hs[:-1]] + [last_block["h"]]).numpy()
        own = enc["special_tokens_mask"][0].numpy() == 0
        out.append((resid, torch.stack(mlps).numpy(), own))
    return out


def _pool(x: np.ndarray, own: np.ndarray, pooling: str) -> np.ndarray:
    """x [..., T, d] pooled over the own tokens."""
    mine = x[..., own, :]
    return {"last": mine[..., -1, :], "mean": mine.mean(-2), "max": mine.max(-2)}[pooling]


def test_a_decoder_spec_gives_a_residual_run_and_an_mlp_run(built):
    for arch, (path, lines, report) in built.items():
        con = warehouse.connect_read_only(path)
        try:
            runs = con.execute("select run_id, model_kind, n_layers, hidden_size, poolings from runs "
                               "order by run_id").fetchall()
            names = con.execute("select run_id, list(name order by layer) from layers group by run_id "
                                "order by run_id").fetchall()
            features = con.execute("select run_id, list(feature order by feature), list(feature) filter (suite) "
                                   "from sentiment_features group by run_id order by run_id").fetchall()
            classifiers = con.execute("select distinct run_id, feature from sentiment_classifiers where "
                                      "model = 'all' order by all").fetchall()
            monotonic = con.execute("select run_id from monotonic_tokens order by run_id").fetchall()
        finally:
            con.close()
        assert runs == [("dec", "decoder", N_BLOCKS + 1, D_MODEL, ["last", "mean", "max"]),
                        ("dec-mlp", "decoder", N_BLOCKS, D_MLP[arch], ["last", "mean", "max"])]
        assert names == [("dec", ["hook_embed"] + [f"blocks.{i}.hook_resid_post" for i in range(N_BLOCKS)]),
                         ("dec-mlp", [f"blocks.{i}.mlp.hook_post" for i in range(N_BLOCKS)])]
        # the sentiment study's first feature of a decoder is its last token; monotonicity has its tokens
        # (min, max and abs are study 002's token-pooled feature sets, pooled by the stage)
        feats = ["abs", "concat", "last", "max", "mean", "min"]
        assert features == [(r, feats, ["last"]) for r in ("dec", "dec-mlp")]
        assert classifiers == [(r, f) for r in ("dec", "dec-mlp") for f in feats]
        assert monotonic == [("dec",), ("dec-mlp",)]
        # every stage ran for both runs, except attention, which says why it did not
        for stage in ("histograms", "distances", "layer_scores", "illusion_null", "separability", "anisotropy",
                      "token_states", "sentiment"):
            assert report.stages[stage] == {"dec": "computed", "dec-mlp": "computed"}, (arch, stage)
        assert "attention" not in report.stages
        skipped = [line for line in lines if line.startswith("attention ")]
        assert len(skipped) == 2 and all("skipped (" in s and "transformer runs only" in s and "\n" not in s
                                         for s in skipped)
        # one model load serves both runs
        assert sum(line.startswith("loading model") for line in lines) == 1


@pytest.mark.parametrize("arch", sorted(D_MLP))
def test_stored_vectors_equal_an_independent_forward(built, folders, arch):
    path = built[arch][0]
    for dataset in ("questions", "reviews"):
        texts = _texts(path, dataset)[:12]
        refs = _reference(folders[arch], arch, texts)
        for pooling in ("last", "mean", "max"):
            for layer in range(N_BLOCKS + 1):
                got = _stored(path, "dec", layer, pooling, dataset)[:12]
                want = np.stack([_pool(r[layer], own, pooling) for r, _, own in refs])
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{arch} {layer} {pooling}")
            for block in range(N_BLOCKS):
                got = _stored(path, "dec-mlp", block, pooling, dataset)[:12]
                want = np.stack([_pool(m[block], own, pooling) for _, m, own in refs])
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{arch} mlp {block} {pooling}")
    # the last block's stored (raw) residual, through the model's final norm, is hidden_states[-1]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folders[arch])).eval()
    tok = AutoTokenizer.from_pretrained(str(folders[arch]))
    norm = model.transformer.ln_f if arch == "gpt2" else model.model.norm
    text = _texts(path, "news")[3]
    with torch.no_grad():
        final = model(**tok(text, return_tensors="pt"), output_hidden_states=True).hidden_states[-1][0, -1]
        normed = norm(torch.from_numpy(_stored(path, "dec", N_BLOCKS, "last", "news")[3]))
    np.testing.assert_allclose(normed.numpy(), final.numpy(), rtol=1e-4, atol=1e-4)


def test_contracts_hold_and_mlp_units_have_their_own_top_k(built):
    path = built["gpt2"][0]
    con = warehouse.connect_read_only(path)
    try:
        assert violations(con) == []
        per_run = dict(con.execute("select run_id, count(distinct unit) from neuron_topk group by run_id").fetchall())
        top = con.execute("select sentence_ids, vals from neuron_topk where run_id = 'dec-mlp' and layer = 1 and "
                          "pooling = 'max' and dataset = 'news' and unit = 100 and side = 'top'").fetchone()
    finally:
        con.close()
    assert per_run == {"dec": D_MODEL, "dec-mlp": D_MLP["gpt2"]}
    x = _stored(path, "dec-mlp", 1, "max", "news")[:, 100]
    order = np.argsort(-x, kind="stable")[:5]
    assert list(top[0]) == order.tolist()
    np.testing.assert_allclose(top[1], x[order], rtol=1e-6)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_both_runs(built, monkeypatch, tmp_path, page):
    path = built["gpt2"][0]
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    monkeypatch.setenv("ILLUSION_ANNOTATIONS", str(tmp_path / "ann.duckdb"))
    for run_id in ("dec", "dec-mlp"):
        at = AppTest.from_file(str(ROOT / "views" / f"{page}.py"), default_timeout=60)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception, (page, run_id, [e.message for e in at.exception])
        shown = [box.value for box in at.selectbox if box.key == "sel_run"]
        assert shown in ([], [run_id]), (page, shown)  # a page with the run box shows the run asked for


def test_the_drift_page_shows_an_mlp_neuron(built, monkeypatch):
    path = built["gpt2"][0]
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60)
    for k, v in {"run": "dec-mlp", "layer": "1", "pooling": "last", "unit": "100", "k": "4"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    top = next(df.value for df in at.dataframe if "rank" in df.value.columns)
    for dataset in ("questions", "news", "reviews"):
        x = _stored(path, "dec-mlp", 1, "last", dataset)[:, 100]
        texts = _texts(path, dataset)
        want = np.argsort(-x, kind="stable")[:4]
        got = top[top.dataset == dataset]
        assert got["sentence_id"].tolist() == want.tolist()
        assert got["text"].tolist() == [texts[i] for i in want]


def test_dropping_the_mlp_site_reuses_the_residual_run(built, folders, dataset_specs, tmp_path):
    import shutil

    path = tmp_path / "w.duckdb"
    shutil.copy(built["llama"][0], path)
    same: list[str] = []  # both runs, unchanged (only the warehouse path differs): everything is copied
    again = _build(folders["llama"], dataset_specs, path, same)
    assert {v for stage in again.stages.values() for v in stage.values()} == {"reused"}
    assert len(again.stages["extract"]) == 2 * len(dataset_specs)
    assert not any(line.startswith("loading model") for line in same)
    lines: list[str] = []
    report = _build(folders["llama"], dataset_specs, path, lines, sites=["resid"])
    assert report.stages["extract"] == {f"dec/{d.name}": "reused" for d in dataset_specs}
    assert not any(line.startswith("loading model") for line in lines)
    con = warehouse.connect_read_only(path)
    try:
        assert [r[0] for r in con.execute("select run_id from runs").fetchall()] == ["dec"]
    finally:
        con.close()


@pytest.mark.parametrize("kw, message", [
    ({"kind": "decoder", "sites": ["resid", "attn"]}, "sites must be distinct values of resid, mlp"),
    ({"kind": "decoder", "sites": ["mlp", "mlp"]}, "sites must be distinct values"),
    ({"kind": "decoder", "sites": "mlp, resid"}, "sites must be distinct values"),
    ({"kind": "transformer", "sites": ["mlp"]}, "sites must be distinct values of resid, sae for kind 'transformer'"),
    ({"kind": "decoder", "sites": 3}, "sites must be a list"),
])
def test_bad_sites_are_one_line_errors(kw, message):
    with pytest.raises(PipelineError, match=message) as e:
        ModelSpec("m", path="x", **kw)
    assert "\n" not in str(e.value) and "'m'" in str(e.value)


def test_run_specs_and_a_clashing_run_id(dataset_specs):
    both = ModelSpec("g", "decoder", "x")
    assert both.sites == ("resid", "mlp")
    resid, mlp = both.run_specs()
    assert (resid.run_id, resid.sites, mlp.run_id, mlp.sites) == ("g", ("resid",), "g-mlp", ("mlp",))
    assert mlp.run_specs() == (mlp,)  # a run's own spec is its own run (spec_json rebuilds the same runner)
    assert ModelSpec("g", "decoder", "x", sites=["mlp"]).run_specs()[0].run_id == "g"
    assert ModelSpec("b", "transformer", "x").run_specs() == (ModelSpec("b", "transformer", "x"),)
    with pytest.raises(PipelineError, match="duplicate model run_id.*g-mlp"):
        make_config(datasets=dataset_specs, models=[both, ModelSpec("g-mlp", "transformer", "y")])


def test_a_runs_stored_spec_rebuilds_its_runner(built):
    """What the nearest-sentences page does with typed text: the run's spec_json -> make_runner -> encode gives
    the stored vectors of that run (the MLP run's spec has sites = ["mlp"])."""
    import json

    from pipeline.models import make_runner

    path = built["llama"][0]
    con = warehouse.connect_read_only(path)
    try:
        raw = con.execute("select spec_json from runs where run_id = 'dec-mlp'").fetchone()[0]
    finally:
        con.close()
    runner = make_runner(ModelSpec(**json.loads(raw)))
    assert runner.layer_names == [f"blocks.{i}.mlp.hook_post" for i in range(N_BLOCKS)]
    texts = _texts(path, "news")[:6]
    enc = runner.encode(texts)
    assert enc.vectors.shape == (N_BLOCKS, 3, 6, D_MLP["llama"])
    for p, pooling in enumerate(runner.poolings):
        np.testing.assert_allclose(enc.vectors[1, p], _stored(path, "dec-mlp", 1, pooling, "news")[:6],
                                   rtol=1e-5, atol=1e-5)


def test_the_readme_decoder_example_is_a_valid_config(tmp_path):
    from pipeline.config import load_toml

    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml")[1:]]
    block = next(b for b in blocks if 'kind = "decoder"' in b)
    (tmp_path / "c.toml").write_text(block)
    (model,) = load_toml(tmp_path / "c.toml")["models"]
    assert [r.run_id for r in model.run_specs()] == [model.run_id, f"{model.run_id}-mlp"]
    assert (model.device, model.dtype) != ("auto", "auto")


@pytest.mark.parametrize("arch", sorted(D_MLP))
def test_site_runners_token_states_equal_an_independent_forward(folders, arch):
    """What token_states and anisotropy read: every own token of each site, batched with padding."""
    from pipeline.models import make_runner

    texts = ["The dog is sleeping on the floor.", "A crowd is watching a football match in the rain today.", "Hi"]
    refs = _reference(folders[arch], arch, texts)
    model = ModelSpec("d", "decoder", str(folders[arch]), max_length=MAX_LENGTH, batch_size=3, device="cpu")
    for run in model.run_specs():
        states = make_runner(run).token_states(texts)
        for (resid, mlp, own), got in zip(refs, states):
            want = (resid if run.sites == ("resid",) else mlp)[:, own]
            np.testing.assert_allclose(got.states, want, rtol=1e-4, atol=1e-4, err_msg=f"{arch} {run.run_id}")


def test_a_stage_that_does_not_apply_logs_one_line_why(dataset_specs):
    from pipeline.build import plan_steps
    from pipeline.stages import stage_modules

    cfg = make_config(datasets=dataset_specs[:1], models=[ModelSpec("g", "decoder", "x")],
                      token_states={"enabled": False})
    lines: list[str] = []
    steps = plan_steps(cfg, stage_modules(), {dataset_specs[0].name: "h"}, lines.append)
    assert {(s.stage.NAME, s.spec.run_id) for s in steps} >= {("extract", "g"), ("extract", "g-mlp")}
    why = {line.split(":", 1)[0]: line.split(": skipped ", 1)[1] for line in lines}
    assert why["token_states g"] == why["token_states g-mlp"] == "(token_states.enabled = false)"
    assert "binary-labelled" in why["sentiment g"]
    assert "transformer runs only" in why["attention g-mlp"]
    assert "datasets" in why["separability g"]  # one dataset: nothing to separate (its docstring says so)
    assert all("\n" not in line for line in lines) and len(lines) == len(set(lines))
