"""Token states stage: what it stores, checked against the model run directly, its contracts and its reuse."""
from dataclasses import replace
from re import escape as re_escape

import duckdb
import numpy as np
import pytest

import warehouse
from analysis.spans import INT8_SCALE, decode_states
from pipeline.build import build
from pipeline.config import SECTIONS, make_config
from pipeline.errors import PipelineError
from pipeline.stages.token_states import sample_ids
from warehouse import queries
from warehouse.contracts import violations


# The other per-run stages are not under test here: off, so these builds stay fast and about this stage.
OTHERS = {name: {"enabled": False} for name in SECTIONS if name != "token_states"}


def _cfg(path, tiny_spec, small_specs, **ts):
    ts = {"per_dataset": 5, **ts}
    return make_config(datasets=small_specs, models=[tiny_spec], warehouse=str(path), topk=5, progress=False,
                       separability_per_dataset=0, token_states=ts, **OTHERS)


@pytest.fixture(scope="module")
def ts_warehouse(tmp_path_factory, tiny_spec, small_specs):
    """The tiny run with token states of its last layer and its embedding output, 5 sentences per dataset."""
    path = tmp_path_factory.mktemp("ts") / "w.duckdb"
    report = build(_cfg(path, tiny_spec, small_specs, transformer_layers=[-1, 0]), log=lambda *_: None)
    assert report.stages["token_states"] == {"tiny": "computed"}
    return path


def test_sample_ids_first_all_or_seeded_per_dataset():
    assert sample_ids(10, 0, True, 0, "a").tolist() == list(range(10))
    assert sample_ids(10, 20, True, 0, "a").tolist() == list(range(10))
    assert sample_ids(10, 3, False, 0, "a").tolist() == [0, 1, 2]
    s = sample_ids(1000, 50, True, 0, "movies")
    assert len(set(s.tolist())) == 50 and np.all(np.diff(s) > 0)
    assert np.array_equal(s, sample_ids(1000, 50, True, 0, "movies"))
    assert not np.array_equal(s, sample_ids(1000, 50, True, 1, "movies"))
    assert not np.array_equal(s, sample_ids(1000, 50, True, 0, "nyt"))


def test_stage_stores_every_wordpiece_of_the_sample_as_the_model_computes_it(ts_warehouse, tiny_model_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    con = warehouse.connect_read_only(ts_warehouse)
    try:
        assert violations(con) == []
        layers = queries.span_layers(con)
        units = queries.span_units(con, "tiny")
        rows = {layer: queries.span_state_rows(con, "tiny", layer) for layer in (0, 2)}
    finally:
        con.close()
    assert layers["layer"].tolist() == [0, 2] and (layers["n_sentences"] == 15).all()
    assert (layers["dtypes"] == "float16").all() and (layers["bytes_per_step"] == 32 * 2).all()
    assert units.groupby("dataset").size().to_dict() == {"news": 5, "pairs": 5, "questions": 5}
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModel.from_pretrained(str(tiny_model_dir)).eval()
    for i, r in enumerate(units.itertuples()):
        enc = tok(r.text, truncation=True, max_length=32, return_offsets_mapping=True)
        pieces = tok.convert_ids_to_tokens(enc["input_ids"])[1:-1]
        assert list(r.units) == pieces and r.n_units == len(pieces)
        assert [r.text[a:b].lower() for a, b in zip(r.starts, r.ends)] == [p.removeprefix("##") for p in pieces]
        with torch.inference_mode():
            hidden = model(torch.tensor([enc["input_ids"]]), output_hidden_states=True).hidden_states
        for layer in (0, 2):
            got = rows[layer]
            assert (got["dataset"][i], got["sentence_id"][i]) == (r.dataset, r.sentence_id)
            x = decode_states(got["states"][i], r.n_units, got["dtype"][i], got["scale"][i])
            want = hidden[layer][0, 1:-1].numpy()
            err = np.abs(x - want).max()
            assert err <= np.abs(want).max() * 2.0 ** -11 + 1e-6  # float16 rounding only
    assert layers["max_error"].max() > 0


def test_stage_is_reused_and_recomputed_when_its_settings_change(tmp_path, tiny_spec, small_specs):
    path = tmp_path / "w.duckdb"
    assert build(_cfg(path, tiny_spec, small_specs), log=lambda *_: None).stages["token_states"] == {"tiny": "computed"}
    assert build(_cfg(path, tiny_spec, small_specs), log=lambda *_: None).up_to_date
    report = build(_cfg(path, tiny_spec, small_specs, per_dataset=3), log=lambda *_: None)
    assert report.stages["token_states"] == {"tiny": "computed"} and not report.computed  # extraction copied
    cfg = _cfg(path, tiny_spec, small_specs, per_dataset=3).with_(models=(tiny_spec, replace(tiny_spec, run_id="t2")))
    report = build(cfg, log=lambda *_: None)
    assert report.stages["token_states"] == {"tiny": "reused", "t2": "computed"}
    con = warehouse.connect_read_only(path)
    n = dict(con.execute("select run_id, count(*) from token_units group by all").fetchall())
    con.close()
    assert n == {"tiny": 9, "t2": 9}
    off = build(_cfg(path, tiny_spec, small_specs, enabled=False), log=lambda *_: None)
    assert "token_states" not in off.stages


def test_a_layer_the_run_does_not_have_is_a_one_line_error(tmp_path, tiny_spec, small_specs):
    with pytest.raises(PipelineError, match=r"token_states.transformer_layers has 5, but the run has 3 layers"):
        build(_cfg(tmp_path / "w.duckdb", tiny_spec, small_specs, transformer_layers=[5]), log=lambda *_: None)
    assert not (tmp_path / "w.duckdb").exists()  # nothing swapped in
    with pytest.raises(PipelineError, match="token_states.bounded_dtype"):
        _cfg(tmp_path / "w.duckdb", tiny_spec, small_specs, bounded_dtype="int4")


def test_contracts_catch_a_truncated_state_array(ts_warehouse, tmp_path):
    import shutil

    copy = tmp_path / "bad.duckdb"
    shutil.copy(ts_warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("update token_states set states = states[1:10] where sentence_id = "
                    "(select min(sentence_id) from token_states where dataset = 'news') and dataset = 'news' "
                    "and layer = 2")
        con.execute("update token_units set n_units = n_units + 1 where dataset = 'pairs' and sentence_id = "
                    "(select min(sentence_id) from token_units where dataset = 'pairs')")
        bad = dict(violations(con))
    finally:
        con.close()
    assert any("octet_length" in k and v == 1 for k, v in bad.items())
    assert any(k.startswith("token_states(run_id, dataset, sentence_id, n_units)") and v == 2 for k, v in bad.items())
    assert any("len(units) = n_units" in k and v == 1 for k, v in bad.items())


@pytest.mark.real_cache
def test_lstm_states_hidden_as_int8_and_cell_as_float16(tmp_path, small_specs):
    """The textgenrnn LSTM (real weights): every character's four streams, hidden within 1/254 of the model."""
    from pipeline.config import PACKAGED_TEXTGENRNN, ModelSpec
    from pipeline.corpora.fetch import textgenrnn_files
    from pipeline.models.lstm import LSTMRunner

    try:
        textgenrnn_files(None)
    except PipelineError as e:
        pytest.skip(f"textgenrnn weights not fetched: {e}")
    spec = ModelSpec("lstm", "lstm", PACKAGED_TEXTGENRNN, max_length=40, batch_size=8)
    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_specs[:1], models=[spec], warehouse=str(path), topk=5, progress=False,
                      separability_per_dataset=0, token_states={"per_dataset": 4, "sample": False}, **OTHERS)
    build(cfg, log=lambda *_: None)
    con = warehouse.connect_read_only(path)
    try:
        layers = queries.span_layers(con)
        units = queries.span_units(con, "lstm")
        rows = {layer: queries.span_state_rows(con, "lstm", layer) for layer in range(4)}
    finally:
        con.close()
    assert layers["layer_name"].tolist() == ["lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell"]
    assert layers["dtypes"].tolist() == ["int8", "float16", "int8", "float16"]
    assert layers["bytes_per_step"].tolist() == [128, 256, 128, 256]
    assert units["sentence_id"].tolist() == [0, 1, 2, 3]
    runner = LSTMRunner.from_fetched(None, max_length=40)
    for i, r in enumerate(units.itertuples()):
        assert "".join(r.units) == r.text[:40] and r.truncated == (len(r.text) > 40)
        want = runner.step_states(r.text)
        for layer, name in enumerate(runner.layer_names):
            got = decode_states(rows[layer]["states"][i], r.n_units, rows[layer]["dtype"][i], rows[layer]["scale"][i])
            err = np.abs(got - want[name]).max()
            if name.endswith("hidden"):
                assert rows[layer]["scale"][i] == pytest.approx(INT8_SCALE) and err <= 0.5 / 127 + 1e-6
            else:
                assert err <= np.abs(want[name]).max() * 2.0 ** -11 + 1e-6
    assert 0 < layers["max_error"].iloc[0] <= 0.5 / 127 + 1e-6


@pytest.mark.parametrize("setting, message", [
    ("token_states.per_dataset=-1", "token_states.per_dataset must be an integer >= 0"),
    ('token_states.lstm_layers=["lstm1.gate"]', "token_states.lstm_layers must be a list of distinct LSTM stream"),
    ("token_states.transformer_layers=-1", "token_states.transformer_layers must be a non-empty list"),
    ("token_states.transformer_layers=[1, 1]", "token_states.transformer_layers must be a non-empty list"),
    ("token_states.unbounded_dtype=int8", "token_states.unbounded_dtype must be float16 or float32"),
    ("token_states.sample=3", "token_states.sample must be true or false"),
])
def test_bad_settings_from_the_command_line_are_one_line_errors(setting, message, fixture_files):
    from pipeline.cli import config_from_args, parser

    args = parser().parse_args(["build", "--dataset", f"name=q,source=file,path={fixture_files['questions']},"
                                "text=question", "--set", setting])
    with pytest.raises(PipelineError, match=re_escape(message)):
        config_from_args(args)


def test_list_settings_from_the_command_line_and_toml_become_tuples(fixture_files, tmp_path):
    from pipeline.cli import config_from_args, parser

    args = parser().parse_args(["build", "--dataset", f"name=q,source=file,path={fixture_files['questions']},"
                                "text=question", "--set", "token_states.transformer_layers=[-1, 3]",
                                "--set", 'token_states.lstm_layers=["lstm2.hidden"]'])
    ts = config_from_args(args).token_states
    assert ts.transformer_layers == (-1, 3) and ts.lstm_layers == ("lstm2.hidden",)
    hash(ts)  # frozen and hashable, like every config section
