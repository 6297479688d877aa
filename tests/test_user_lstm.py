"""A user's own LSTM (pipeline/models/lstm.py, TorchLSTMRunner): an nn.LSTM state dict and a vocabulary file,
run through textgenrnn's stepping and pooling, checked against torch's own nn.LSTM forward."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
from torch import nn

from pipeline.errors import PipelineError
from pipeline.models.lstm import TorchLSTMRunner

TEXTS = ["a café in the rain", "Hi", "", "the dog sat on the mat and looked at the door for a while"]


def _save(folder: Path, lstm: nn.LSTM, emb: torch.Tensor | None, vocab: dict, fmt: str = "pt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"lstm.{k}": v.detach().clone() for k, v in lstm.state_dict().items()}
    if emb is not None:
        state["embedding.weight"] = emb.clone()
    state["head.weight"] = torch.zeros(3, lstm.hidden_size)  # an output head: ignored
    if fmt == "pt":
        torch.save(state, folder / "model.pt")
    else:
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    return folder


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory):
    """2-layer LSTM(6 -> 5) over UTF-8 bytes with an embedding of 256 rows."""
    torch.manual_seed(0)
    lstm, emb = nn.LSTM(6, 5, num_layers=2, batch_first=True), torch.randn(256, 6)
    folder = _save(tmp_path_factory.mktemp("lstm") / "bytes", lstm, emb, {"level": "byte"})
    return folder, lstm, lambda t: emb[torch.tensor(list(t.encode("utf-8")), dtype=torch.long)]


@pytest.fixture(scope="module")
def char_model(tmp_path_factory):
    """3-layer LSTM(V -> 4) over characters, one-hot inputs (no embedding), saved as safetensors."""
    torch.manual_seed(1)
    chars = sorted(set("".join(TEXTS)) - {"é"})
    index = {c: i + 1 for i, c in enumerate(chars)}  # row 0: unknown characters (é here)
    lstm = nn.LSTM(len(chars) + 1, 4, num_layers=3, batch_first=True)
    folder = _save(tmp_path_factory.mktemp("lstm") / "chars", lstm, None,
                   {"level": "char", "index": index, "unknown": 0}, fmt="safetensors")
    onehot = lambda t: torch.nn.functional.one_hot(torch.tensor([index.get(c, 0) for c in t], dtype=torch.long),
                                                   len(chars) + 1).float()
    return folder, lstm, onehot


@pytest.mark.parametrize("which", ["byte_model", "char_model"])
def test_pooled_streams_equal_torchs_own_lstm(which, request):
    folder, lstm, inputs = request.getfixturevalue(which)
    runner = TorchLSTMRunner(folder, run_id="mine", batch_size=3)
    L = lstm.num_layers
    assert runner.layer_names == [f"lstm{k}.{p}" for k in range(1, L + 1) for p in ("hidden", "cell")]
    assert runner.hidden_size == lstm.hidden_size
    enc = runner.encode(TEXTS)
    assert enc.vectors.shape == (2 * L, 2, len(TEXTS), lstm.hidden_size)
    for i, text in enumerate(TEXTS):
        if not text:  # an empty text gets zero vectors
            assert not enc.vectors[:, :, i].any() and enc.n_tokens[i] == 0
            continue
        with torch.no_grad():
            out, (h_n, c_n) = lstm(inputs(text)[None])  # one text alone, no padding: torch's own kernels
        for k in range(L):
            np.testing.assert_allclose(enc.vectors[2 * k, 0, i], h_n[k, 0].numpy(), atol=1e-5)  # final hidden
            np.testing.assert_allclose(enc.vectors[2 * k + 1, 0, i], c_n[k, 0].numpy(), atol=1e-5)  # final cell
        np.testing.assert_allclose(enc.vectors[2 * L - 2, 1, i], out[0].mean(0).numpy(), atol=1e-5)  # top mean
        assert enc.n_tokens[i] == len(inputs(text))


def test_byte_level_token_states_show_each_bytes_character(byte_model):
    folder, lstm, inputs = byte_model
    runner = TorchLSTMRunner(folder, max_length=6)
    (ts,) = runner.token_states(["café!"])
    assert ts.units == ["c", "a", "f", "é", "é", "!"]  # é is two bytes
    assert ts.offsets.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [3, 4], [4, 5]]
    with torch.no_grad():
        out, _ = lstm(inputs("café!")[None])
    np.testing.assert_allclose(ts.states[2], out[0].numpy(), atol=1e-5)  # lstm2.hidden at every byte
    enc = runner.encode(["café!!"])  # 7 bytes, cut at 6
    assert enc.n_tokens[0] == 7 and enc.truncated[0]


def test_a_build_stores_the_users_lstm_like_textgenrnn(byte_model, fixture_files, tmp_path):
    from pipeline.build import build
    from pipeline.config import ModelSpec, make_config
    from pipeline.models import detect_kind
    from tests.conftest import small_datasets

    folder, _, _ = byte_model
    assert detect_kind(str(folder)) == "lstm"
    path = tmp_path / "w.duckdb"
    spec = ModelSpec("mine", "lstm", str(folder), max_length=64, batch_size=8)
    cfg = make_config(datasets=small_datasets(fixture_files)[2:], models=[spec], warehouse=str(path), topk=3,
                      progress=False)
    build(cfg, log=lambda *_: None)
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("select name from layers where run_id = 'mine' order by layer").fetchall()]
        texts = [r[0] for r in con.execute("select text from sentences where dataset = 'news' order by sentence_id"
                                           ).fetchall()]
        rows = con.execute("select vec, max_error from activations join activation_store using (run_id, layer, "
                           "pooling, dataset, sentence_id) where run_id = 'mine' and layer = 3 and pooling = 'final' "
                           "order by sentence_id").df()
        stored, err = np.stack(rows["vec"]), rows["max_error"].to_numpy()
        streams = {r[0] for r in con.execute("select distinct l.name from token_states t join layers l "
                                             "using (run_id, layer)").fetchall()}
    finally:
        con.close()
    assert names == ["lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell"]
    want = TorchLSTMRunner(folder, max_length=64).encode(texts).vectors[3, 0]
    assert (np.abs(stored - want) <= err[:, None] + 1e-5).all()  # within the storage's recorded error per row
    assert err.max() <= np.abs(want).max() / 16382 + 1e-7
    assert streams == set(names)  # token_states' default: every stream of the run


@pytest.mark.parametrize("break_it, message", [
    (lambda f: (f / "model.pt").unlink(), "no model.safetensors or model.pt"),
    (lambda f: (f / "vocab.json").write_text('{"level": "word"}'), r"vocab\.json: level must be \"byte\" or"),
    (lambda f: (f / "vocab.json").write_text('{"level": "byte", "offset": 1}'), r"vocab\.json: offset"),
    (lambda f: torch.save({"lstm.weight_ih_l0_reverse": torch.zeros(20, 6), "lstm.weight_ih_l0": torch.zeros(20, 6),
                           "lstm.weight_hh_l0": torch.zeros(20, 5)}, f / "model.pt"), "bidirectional"),
    (lambda f: torch.save({"lstm.weight_ih_l0": torch.zeros(20, 6), "lstm.weight_hh_l0": torch.zeros(20, 5),
                           "embedding.weight": torch.zeros(256, 7)}, f / "model.pt"), r"embedding\.weight is \[256, 7\]"),
    (lambda f: (f / "model.pt").write_bytes(b"not a tensor file"), "not a readable state dict"),
])
def test_bad_lstm_folders_are_one_line_errors_naming_the_file(byte_model, tmp_path, break_it, message):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(byte_model[0], folder)
    break_it(folder)
    with pytest.raises(PipelineError, match=message) as e:
        TorchLSTMRunner(folder)
    assert "\n" not in str(e.value) and str(folder) in str(e.value)


def test_the_readme_lstm_example_is_a_valid_config(tmp_path):
    from pipeline.config import load_toml

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml")[1:]]
    block = next(b for b in blocks if 'kind = "lstm"' in b)
    (tmp_path / "c.toml").write_text(block)
    (model,) = load_toml(tmp_path / "c.toml")["models"]
    assert (model.kind, model.run_id, model.max_length) == ("lstm", "mlstm", 512)
