"""Hugging Face ``datasets``: a hub name (needs the network) or a folder written by ``save_to_disk``."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.config import DatasetSpec
from pipeline.errors import PipelineError


def load_hf(spec: DatasetSpec) -> pd.DataFrame:
    import datasets

    path = Path(spec.path).expanduser()
    try:
        if path.is_dir():
            ds = datasets.load_from_disk(str(path))
        else:
            ds = datasets.load_dataset(spec.path, spec.hf_config, split=spec.split or "train")
    except Exception as e:  # offline, unknown name, bad folder: datasets raises many types
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise PipelineError(
            f"dataset {spec.name!r}: Hugging Face dataset {spec.path!r} could not be loaded "
            f"({type(e).__name__}: {first}); offline, save it once with Dataset.save_to_disk(folder) "
            f"and set path=<folder>") from None
    if isinstance(ds, datasets.DatasetDict):
        split = spec.split or ("train" if "train" in ds else next(iter(ds)))
        if split not in ds:
            raise PipelineError(f"dataset {spec.name!r}: split {split!r} not in {spec.path} "
                                f"(splits: {', '.join(ds)})")
        ds = ds[split]
    df = ds.to_pandas()
    df["_line"] = range(1, len(df) + 1)
    if "split" not in df.columns:
        # Keep the split we read, so sentences.split says where the rows came from.
        df["split"] = getattr(ds, "split", None) and str(ds.split)
    return df
