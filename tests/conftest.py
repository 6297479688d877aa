"""Shared fixtures: a tiny random BERT, small real-looking input files and a warehouse built from them.

Everything here runs offline. The Hugging Face hub is switched off for the whole session (below, before
anything imports ``huggingface_hub``, which reads these variables once at import time). The demo cache is
NOT overridden globally: tests marked ``slow`` (or ``real_cache``) use the real default cache
(``$ILLUSION_CACHE`` or ~/.cache/illusion-lab, filled by ``python -m pipeline fetch``); every other test
sees ``ILLUSION_CACHE`` pointing at an empty per-session folder, so it cannot silently depend on it.
Subprocesses started by tests inherit this environment.
"""
from __future__ import annotations

import gzip
import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread: the models under test are tiny, and on a busy 2-core machine torch's OpenMP pool
# makes them 10-100x slower (spinning threads fighting other processes). Set it to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------------------
# Text: two domains (questions, news) with a numeric score and a class label each.
# ---------------------------------------------------------------------------------------------------------

# (text, score, topic): score is how hard the question is, 0..5.
QUESTIONS = [
    ("What is the capital city of France?", 0.5, "geography"),
    ("How many legs does a spider have?", 1.0, "science"),
    ("Why is the sky blue during the day?", 3.5, "science"),
    ("Who wrote the first modern novel?", 4.0, "history"),
    ("When did the first people walk on the moon?", 2.0, "history"),
    ("Which river runs through the old city of London?", 1.5, "geography"),
    ("How long does it take to boil an egg?", 0.5, "food"),
    ("What makes bread rise in a warm oven?", 3.0, "food"),
    ("Where do most of the world's coffee beans grow?", 2.5, "food"),
    ("Why do cats sleep for most of the day?", 2.0, "science"),
    ("How far is the sun from the earth?", 3.0, "science"),
    ("Which country has the largest number of lakes?", 4.5, "geography"),
    ("Who was the first king of the united kingdom?", 4.0, "history"),
    ("What is the longest river in the world?", 1.5, "geography"),
    ("How much water should a person drink every day?", 2.5, "food"),
    ("Why did the old empire fall after the war?", 5.0, "history"),
    ("What do plants need to grow in the spring?", 1.0, "science"),
    ("Which fruit has the most sugar in it?", 3.5, "food"),
    ("When was the first train station built?", 4.0, "history"),
    ("Where is the highest mountain in the world?", 1.0, "geography"),
    ("How do birds find their way home in winter?", 4.5, "science"),
    ("What is the best way to cook rice?", 1.5, "food"),
    ("Who painted the famous picture of the night sky?", 3.0, "history"),
    ("Which city has the most people living in it?", 2.0, "geography"),
]

# (text, score, section): score is the tone of the sentence, -2 (bad news) .. +2 (good news).
NEWS = [
    ("The government said on Monday that taxes would rise next year.", -1.0, "politics"),
    ("Shares in the bank fell sharply after the report was published.", -1.5, "business"),
    ("The home team won the final in front of a record crowd.", 2.0, "sports"),
    ("Police said three people were hurt in the fire on Sunday night.", -2.0, "politics"),
    ("The company will open a new factory and hire two hundred workers.", 1.5, "business"),
    ("The minister resigned after a week of questions about his travel.", -1.0, "politics"),
    ("The young player scored twice in the second half.", 1.5, "sports"),
    ("Prices in the city rose for the third month in a row.", -0.5, "business"),
    ("The new bridge over the river was opened by the mayor.", 1.0, "politics"),
    ("The coach said his team had played its best game of the season.", 2.0, "sports"),
    ("Workers at the port will strike for two days next week.", -1.0, "business"),
    ("The election will be held in the spring, the party said.", 0.0, "politics"),
    ("Heavy rain closed several roads in the north of the country.", -1.5, "politics"),
    ("The club signed a new striker from a team in the south.", 0.5, "sports"),
    ("Sales of new cars were higher than expected in the summer.", 1.0, "business"),
    ("The match was called off because of the storm.", -0.5, "sports"),
    ("The court said the law was fair and would stay in place.", 0.0, "politics"),
    ("The bank said it would cut interest rates to help small business.", 1.0, "business"),
    ("Fans waited for hours in the cold to see the team return.", 0.5, "sports"),
    ("The report found that schools in the region had improved.", 1.5, "politics"),
    ("The airline lost money for the second year running.", -1.5, "business"),
    ("The runner broke the world record by almost a second.", 2.0, "sports"),
    ("Officials said the water in the river was safe to drink again.", 1.0, "politics"),
    ("The shop on the main street will close after fifty years.", -1.0, "business"),
]

# (sentence1, sentence2, relation)
PAIRS = [
    ("A man is playing the guitar on the street.", "A man is making music.", "entailment"),
    ("A man is playing the guitar on the street.", "The man is asleep at home.", "contradiction"),
    ("A man is playing the guitar on the street.", "The man is playing for money.", "neutral"),
    ("Two children are running in the park.", "Kids are outside.", "entailment"),
    ("Two children are running in the park.", "The children are sitting in class.", "contradiction"),
    ("Two children are running in the park.", "The children are late for dinner.", "neutral"),
    ("A woman is cooking rice in the kitchen.", "Someone is making food.", "entailment"),
    ("A woman is cooking rice in the kitchen.", "The woman is swimming in the sea.", "contradiction"),
    ("A woman is cooking rice in the kitchen.", "The woman is cooking for her family.", "neutral"),
    ("The dog is sleeping on the floor.", "An animal is resting.", "entailment"),
    ("The dog is sleeping on the floor.", "The dog is chasing a cat.", "contradiction"),
    ("The dog is sleeping on the floor.", "The dog is very old.", "neutral"),
    ("A crowd is watching a football match.", "People are watching a game.", "entailment"),
    ("A crowd is watching a football match.", "The stadium is empty.", "contradiction"),
    ("A crowd is watching a football match.", "The home team is winning.", "neutral"),
    ("A girl is reading a book under a tree.", "A girl is reading.", "entailment"),
]

_WORDS = """
a about after again against all almost also always an and animal another any are around as asleep at
away back bad bank be beans because been before being best better between big bird birds bit blue boil
book born both bread breaks bridge broke brother built business but by call called can capital car cars
cat cats change child children city class close closed club coach coffee cold come company could
country court crowd cut cook cooking day days did do does dog done down drink during each early earth
egg election empire empty end entailment even evening every expected fair fall family famous fans far
fell final find fire first floor food football for found france from fruit full game get girl give go
good government great grow guitar had half has have he heavy held help her here high higher highest
him his home hire hours how hundred hurt i if in interest into is it its kitchen kids king know lakes
large largest last late later law legs life like little live living long longest look lost made main
make making man many match may mayor me men minister modern money month moon more most mountain music
my name near never new news next night no north not novel now number of off old on one only open
opened or other our out outside over painted paper park part party people person picture place played
player playing plants police port prices people put question questions rain rates read reading record
region report resigned rest resting return rice rise river road roads row run runner running safe said
sales same say school schools sea season second see several she shares sharply shop should signed sit
sitting sky sleep sleeping small so some someone south spider spring stadium station stay still storm
street strike striker summer sun swimming take taxes team than that the their them then there these
they third this three through time to told train travel tree twice two under united up very waited
walk war was water way we week well were what when where which while who why will winning winter with
woman women won words work workers world would write wrote year years yet you young your
""".split()
_PIECES = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + [
    "##s", "##es", "##ed", "##ing", "##ly", "##er", "##est", "##tion", "##al", "##ment", "##ness", "##ful"]
_SINGLE = list("abcdefghijklmnopqrstuvwxyz0123456789") + list(".,?!'\";:-()")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_vocab() -> list[str]:
    seen, out = set(), []
    for w in SPECIALS + sorted(set(_WORDS)) + _PIECES + _SINGLE:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


# ---------------------------------------------------------------------------------------------------------
# Markers and environment
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def isolated_cache(tmp_path_factory) -> Path:
    """An empty cache folder for tests that must not touch the real demo cache."""
    return tmp_path_factory.mktemp("illusion-cache")


@pytest.fixture(autouse=True)
def _cache_isolation(request, monkeypatch, isolated_cache):
    """Point ILLUSION_CACHE at an empty per-session folder, except for tests that need the real demo data.

    Tests marked ``slow`` or ``real_cache`` keep the default cache. Module- and session-scoped fixtures
    are set up before this function-scoped one, so a module fixture that fetches (as test_lstm.py's does)
    still sees the real cache.
    """
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("real_cache"):
        yield None
        return
    monkeypatch.setenv("ILLUSION_CACHE", str(isolated_cache))
    yield isolated_cache


# ---------------------------------------------------------------------------------------------------------
# The tiny model
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT (seed 0) and its WordPiece tokenizer, saved with save_pretrained."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    out = tmp_path_factory.mktemp("tiny-bert")
    vocab = tiny_vocab()
    src = tmp_path_factory.mktemp("tiny-vocab")
    (src / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizer.from_pretrained(str(src), do_lower_case=True)
    assert len(tok) == len(vocab)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    model = BertModel(cfg)
    model.eval()
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------------------------------------

def _mixed_rows() -> pd.DataFrame:
    """Questions and news interleaved: text, score, topic, domain (all as they'd be typed in a sheet)."""
    rows = []
    for (q, qs, qt), (n, ns, nt) in zip(QUESTIONS, NEWS):
        rows.append({"text": q, "score": qs, "topic": qt, "domain": "questions"})
        rows.append({"text": n, "score": ns, "topic": nt, "domain": "news"})
    return pd.DataFrame(rows)


def _delimited(df: pd.DataFrame, sep: str) -> str:
    return df.to_csv(sep=sep, index=False, lineterminator="\n")


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory) -> dict[str, Path]:
    """Small files in every supported format. Keys:

    mixed.{csv,tsv,jsonl,parquet,txt} and the .gz variants csv_gz/tsv_gz/jsonl_gz/txt_gz: the same 48 rows
    (columns text, score, topic, domain; the .txt holds the texts only);
    questions: questions.csv (question, difficulty: a score 0..5, topic: a class);
    news: news.tsv (sentence, tone: a score -2..2, section: a class);
    pairs: pairs.jsonl (premise, hypothesis, relation: a class);
    news_txt: news.txt (one sentence per line).
    """
    d = tmp_path_factory.mktemp("files")
    df = _mixed_rows()
    out: dict[str, Path] = {}

    def write(name: str, key: str, data: bytes):
        p = d / name
        p.write_bytes(data)
        out[key] = p

    csv_text = _delimited(df, ",")
    tsv_text = _delimited(df, "\t")
    jsonl_text = "".join(json.dumps(r) + "\n" for r in df.to_dict("records"))
    txt_text = "".join(t + "\n" for t in df["text"])
    write("mixed.csv", "csv", csv_text.encode())
    write("mixed.tsv", "tsv", tsv_text.encode())
    write("mixed.jsonl", "jsonl", jsonl_text.encode())
    write("mixed.txt", "txt", txt_text.encode())
    write("mixed.csv.gz", "csv_gz", gzip.compress(csv_text.encode()))
    write("mixed.tsv.gz", "tsv_gz", gzip.compress(tsv_text.encode()))
    write("mixed.jsonl.gz", "jsonl_gz", gzip.compress(jsonl_text.encode()))
    write("mixed.txt.gz", "txt_gz", gzip.compress(txt_text.encode()))
    df.to_parquet(d / "mixed.parquet", index=False)
    out["parquet"] = d / "mixed.parquet"

    q = pd.DataFrame(QUESTIONS, columns=["question", "difficulty", "topic"])
    write("questions.csv", "questions", _delimited(q, ",").encode())
    n = pd.DataFrame(NEWS, columns=["sentence", "tone", "section"])
    write("news.tsv", "news", _delimited(n, "\t").encode())
    write("news.txt", "news_txt", "".join(s + "\n" for s, _, _ in NEWS).encode())
    pairs = "".join(json.dumps({"premise": a, "hypothesis": b, "relation": r}) + "\n" for a, b, r in PAIRS)
    write("pairs.jsonl", "pairs", pairs.encode())
    return out


# ---------------------------------------------------------------------------------------------------------
# A warehouse built by the real pipeline
# ---------------------------------------------------------------------------------------------------------

def tiny_model_spec(tiny_model_dir, run_id: str = "tiny", **kw):
    from pipeline.config import ModelSpec

    kw.setdefault("max_length", 32)
    kw.setdefault("batch_size", 8)
    return ModelSpec(run_id, "transformer", str(tiny_model_dir), **kw)


def small_datasets(fixture_files) -> list:
    from pipeline.config import DatasetSpec

    return [
        DatasetSpec(name="questions", source="file", path=str(fixture_files["questions"]), text="question",
                    label="difficulty", label_kind="score"),
        DatasetSpec(name="pairs", source="file", path=str(fixture_files["pairs"]), text="premise",
                    text_b="hypothesis", label="relation", label_kind="class"),
        DatasetSpec(name="news", source="file", path=str(fixture_files["news"]), text="sentence",
                    label="section", label_kind="class"),
    ]


@pytest.fixture(scope="session")
def tiny_spec(tiny_model_dir):
    """ModelSpec("tiny", "transformer", <tiny_model_dir>, max_length=32, batch_size=8)."""
    return tiny_model_spec(tiny_model_dir)


@pytest.fixture(scope="session")
def small_specs(fixture_files) -> list:
    """The DatasetSpecs small_warehouse is built from: questions (score), pairs (class, text_b), news (class)."""
    return small_datasets(fixture_files)


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    """A warehouse built by the real ``pipeline.build.build``: 3 file datasets x the tiny model, topk=5.

    questions (24 rows, label_kind=score), pairs (16 rows, class labels, text_b pairs), news (24 rows,
    class labels). Treat it as read-only (it is shared by the whole session).
    """
    from pipeline.build import build
    from pipeline.config import make_config

    path = tmp_path_factory.mktemp("small-warehouse") / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False)
    report = build(cfg, log=lambda *_: None)
    assert not report.up_to_date and len(report.computed) == 3
    return path


@pytest.fixture(scope="session", autouse=True)
def _close_cached_connections():
    """AppTest runs keep read-only connections in st.cache_resource; close them before the interpreter exits
    (otherwise duckdb's bindings report leaked objects at shutdown)."""
    yield
    import gc

    import streamlit as st

    st.cache_resource.clear()
    gc.collect()
