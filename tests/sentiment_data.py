"""Small sentiment datasets for the sentiment-neuron tests, written as files the real pipeline loads.

The words come from the tiny test BERT's vocabulary (tests/conftest.py), so its random features still tell
positive from negative reviews (token identity survives in the pooled vectors); 10% of the labels are
flipped so that no classifier is perfect.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

POSITIVE = ["good", "great", "best", "better", "fair", "safe", "famous", "winning", "won", "well"]
NEGATIVE = ["bad", "cold", "empty", "closed", "lost", "hurt", "broke", "late", "fell", "asleep"]
NOUNS = ["book", "game", "match", "city", "team", "shop", "park", "music", "food", "school", "picture", "story"]
FILLER = ["we went there with my brother last year and", "the old man said that", "after the long rain",
          "in the summer", "my family thought that"]


def reviews(n: int, seed: int = 0, long_every: int = 7) -> pd.DataFrame:
    """n reviews: review (text), polarity ('pos'/'neg'), stars (a score: +2 or -2, 0 for every 11th row).
    Every ``long_every``-th review is long (over 100 characters)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        y = int(rng.random() < 0.5)
        adj = rng.choice(POSITIVE if y else NEGATIVE)
        adj2 = rng.choice(POSITIVE if y else NEGATIVE)
        noun = rng.choice(NOUNS)
        kind = int(rng.integers(3))
        text = [f"The {noun} was {adj}.", f"A {adj} {noun}, and {adj2} too.",
                f"We thought the {noun} was very {adj} this year."][kind]
        if long_every and i % long_every == 0:
            text = f"{rng.choice(FILLER).capitalize()} {text[0].lower()}{text[1:]} The {rng.choice(NOUNS)} " \
                   f"near the {rng.choice(NOUNS)} was {adj2} as well, said my brother."
        if rng.random() < 0.1:
            y = 1 - y
        stars = 0.0 if i % 11 == 0 else (2.0 if y else -2.0)
        rows.append({"review": text, "polarity": "pos" if y else "neg", "stars": stars})
    return pd.DataFrame(rows)


def write_files(folder: Path) -> dict[str, Path]:
    """reviews.csv (400 rows), scored.csv (200 rows) and few.csv (30 rows) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, n, seed in (("reviews", 400, 0), ("scored", 200, 1), ("few", 30, 2)):
        path = folder / f"{name}.csv"
        reviews(n, seed).to_csv(path, index=False)
        out[name] = path
    return out


def sentiment_specs(files: dict[str, Path]) -> list:
    from pipeline.config import DatasetSpec

    return [
        DatasetSpec(name="reviews", source="file", path=str(files["reviews"]), text="review", label="polarity",
                    label_kind="binary"),
        DatasetSpec(name="scored", source="file", path=str(files["scored"]), text="review", label="stars",
                    label_kind="score"),
        DatasetSpec(name="few", source="file", path=str(files["few"]), text="review", label="polarity",
                    label_kind="binary"),
    ]


# Cheap settings for the tests: a short grid, 200 subsets; short "long" texts and 3 repeats so that the
# tiny model's 48 WordPieces hold them.
TEST_SETTINGS = {"c_grid": [0.0625, 0.25, 1.0], "n_subsets": 200, "long_chars": 100, "long_repeats": 3,
                 "datasets": ["reviews", "scored", "few"]}


def build_sentiment_warehouse(path: Path, tiny_model_dir, files: dict[str, Path], **settings):
    """A warehouse built by the real pipeline with the sentiment stage on the three files and the tiny BERT."""
    from pipeline.build import build
    from pipeline.config import make_config
    from tests.conftest import tiny_model_spec

    off = {"enabled": False}
    cfg = make_config(datasets=sentiment_specs(files), models=[tiny_model_spec(tiny_model_dir, max_length=48)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      anisotropy=off, token_states=off, attention=off, sentiment={**TEST_SETTINGS, **settings})
    return build(cfg, log=lambda *_: None)
