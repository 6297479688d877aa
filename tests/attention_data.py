"""A small STS-like pair file (train/test split, 0-5 scores) and a warehouse built with only the attention stage."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PAIRS, QUESTIONS, tiny_model_spec

# Small and fast: 2 blocks of the tiny BERT, few epochs, a short k range.
SETTINGS = {"per_dataset": 0, "ae_epochs": 2, "ae_hidden": 8, "ae_grid": 4, "ae_batch": 16, "k_min": 2,
            "k_max": 4, "heads_epochs": 1}


def write_sts_file(folder: Path) -> Path:
    """pairs_sts.jsonl: 40 pairs, score = a deterministic function of the pair (0-5), the last 16 rows 'test'."""
    rows = []
    sents = [q for q, _, _ in QUESTIONS] + [a for a, _, _ in PAIRS]
    for i in range(40):
        a, b = sents[i % len(sents)], sents[(i * 7 + 3) % len(sents)]
        if i % 5 == 0:
            b = a  # identical pairs: score 5
        score = 5.0 if a == b else round((i * 37 % 50) / 10, 1)
        rows.append({"s1": a, "s2": b, "score": score, "split": "test" if i >= 24 else "train"})
    p = folder / "pairs_sts.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def attention_datasets(fixture_files, sts_path: Path) -> list:
    from pipeline.config import DatasetSpec

    return [
        DatasetSpec(name="questions", source="file", path=str(fixture_files["questions"]), text="question",
                    label="difficulty", label_kind="score"),
        DatasetSpec(name="sts", source="file", path=str(sts_path), text="s1", text_b="s2", label="score",
                    label_kind="score", split="split"),
    ]


def build_attention_warehouse(path: Path, tiny_model_dir, fixture_files, **settings) -> Path:
    import pipeline.stages as stages
    from pipeline.build import build
    from pipeline.config import make_config

    sts = write_sts_file(path.parent)
    cfg = make_config(datasets=attention_datasets(fixture_files, sts), models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      attention=SETTINGS | settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "RUN_STAGES", ("attention",))
        build(cfg, log=lambda *_: None)
    return path
