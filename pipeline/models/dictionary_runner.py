"""A dictionary run's runner: the base model's token states at the dictionary's layer, encoded by the dictionary.

A dictionary run (``<run_id>-sae``) has one layer, ``<site>.hook_sae_acts_post``, whose units are the
dictionary's features. The dictionary stage writes its sentence vectors; this runner gives the stages that run a
model over text (token_states for the span-match page, token_topk for the drift page's token-level lists) and the
dashboard's typed-text neighbours the same features at every token, and pooled as the stage pooled them
(``pipeline.stages.dictionary.pool_tokens``: max / mean over the text's own tokens). It is built from the run's
``dictionaries`` row: the dictionary is loaded from the path recorded there (a trained SAE is saved in the cache
in the SAELens layout) and must have the fingerprint recorded there, so the features are the build's.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.models.base import Encoded, TokenStates


class DictionaryRunner:
    """The runner interface (layer_names, hidden_size, poolings, encode, token_states) of a dictionary run.

    base: the base model's runner (its ``token_states`` give every layer at every own token); dictionary: a
    ``pipeline.models.dictionary.Dictionary``; layer: the base run's layer it reads."""

    def __init__(self, base, dictionary, layer: int, run_id: str, poolings, layer_name: str):
        self.base, self.dictionary, self.layer = base, dictionary, int(layer)
        self.run_id, self.model_name = run_id, base.model_name
        self.layer_names = [layer_name]
        self.hidden_size, self.n_heads = dictionary.n_features, None
        self.poolings = tuple(poolings)
        self.tokenizer, self.max_length = base.tokenizer, base.max_length
        self.batch_size = getattr(base, "batch_size", 32)

    def describe(self) -> dict:
        return {"run_id": self.run_id, "base": self.base.describe() if hasattr(self.base, "describe") else None,
                "dictionary": self.dictionary.describe(), "layer": self.layer}

    def _features(self, texts: list[str]) -> tuple[list, list[np.ndarray]]:
        """(the base runner's TokenStates, float32 [T, n_features] per text): the chunk's tokens encoded in one
        call (the dictionary batches internally)."""
        states = self.base.token_states(texts)
        xs = [np.ascontiguousarray(s.states[self.layer], dtype=np.float32) for s in states]
        lengths = [len(x) for x in xs]
        if not sum(lengths):
            return states, [np.zeros((0, self.hidden_size), np.float32) for _ in xs]
        acts = self.dictionary.encode(np.concatenate(xs)).astype(np.float32, copy=False)
        return states, np.split(acts, np.cumsum(lengths)[:-1])

    def token_states(self, texts: list[str], progress: bool = False) -> list[TokenStates]:
        states, feats = self._features(texts)
        return [TokenStates(s.units, s.offsets, f[None]) for s, f in zip(states, feats)]

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """The texts' pooled features, float32 [1, n_poolings, N, n_features], as the dictionary stage stores
        them."""
        from pipeline.models.torch_utils import tokenize_for_encode
        from pipeline.stages.dictionary import pool_tokens

        _, feats = self._features(texts)
        lengths = np.array([len(f) for f in feats], dtype=np.int64)
        acts = np.concatenate(feats) if lengths.sum() else np.zeros((0, self.hidden_size), np.float32)
        pooled = pool_tokens(acts, lengths, self.poolings)
        _, n_tokens, truncated, counters = tokenize_for_encode(self.tokenizer, texts, self.max_length)
        return Encoded(pooled[None], np.asarray(n_tokens), np.asarray(truncated), counters)


def load_recorded(entry: dict, d_in: int, run_id: str):
    """The dictionary a run was built with, from its ``dictionaries`` row (path, kind, fingerprint): loaded from
    the recorded path and checked against the recorded fingerprint (a directions file is tried with and without
    row normalisation, whichever the build used). PipelineError naming the path when it is missing or differs."""
    from pipeline.models.dictionary import load_dictionary
    from pipeline.stages.dictionary import fingerprint

    path = entry.get("path")
    if not path or not Path(path).exists():
        raise PipelineError(f"run {run_id!r}: its dictionary {path!r} is not on this machine (dictionaries.path; "
                            f"build the run here to train it again, or copy that folder)")
    options = [{}] if Path(path).is_dir() or entry.get("kind") != "directions" else \
        [{"normalize": True}, {"normalize": False}]
    for kw in options:
        dic = load_dictionary(path, d_in=d_in, site=f"run {run_id!r}", **kw)
        if fingerprint(dic) == entry["fingerprint"]:
            return dic
    raise PipelineError(f"{path}: this is not the dictionary run {run_id!r} was built with (its fingerprint "
                        f"differs from dictionaries.fingerprint {entry['fingerprint']}); rebuild the run")


def dictionary_runner(spec, entry: dict, cache=None, base=None) -> DictionaryRunner:
    """The runner of dictionary run ``spec`` (ModelSpec with the site "sae") from its ``dictionaries`` row
    ``entry`` (layer, site, path, kind, fingerprint, poolings); ``base``: the base model's runner, if loaded."""
    from pipeline.models import make_runner
    from pipeline.stages.dictionary import SUFFIX

    if base is None:
        base = make_runner(replace(spec, run_id=entry.get("base_run_id") or spec.run_id, sites=("resid",)), cache)
    layer = int(entry["layer"])
    if not 0 <= layer < len(base.layer_names):
        raise PipelineError(f"run {spec.run_id!r}: its dictionary reads layer {layer}, but the model has layers "
                            f"0..{len(base.layer_names) - 1}")
    dic = load_recorded(entry, base.hidden_size, spec.run_id)
    return DictionaryRunner(base, dic, layer, spec.run_id, list(entry["poolings"]),
                            f"{base.layer_names[layer]}.{SUFFIX}")
