"""What every model runner hands to the extraction stage."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Encoded:
    """Sentence-level output of a runner for N texts.

    vectors:      float32 [n_layers, n_poolings, N, H]; layer and pooling order as in the runner's
                  ``layer_names`` and ``poolings``.
    n_tokens:     int [N], the length of each text in the runner's own units (WordPieces incl. special
                  tokens for a transformer, characters for a char LSTM), before truncation.
    truncated:    bool [N], True where the model saw only the first ``max_length`` units.
    token_counts: one Counter per text (token string -> count, special tokens excluded), or None.
    sites:        sites other than the residual stream, each with its own width, or None: site name (e.g.
                  ``blocks.{l}.mlp.hook_post``) -> float32 [n_poolings, N, d_site], pooled like ``vectors``.
    """

    vectors: np.ndarray
    n_tokens: np.ndarray
    truncated: np.ndarray
    token_counts: list[Counter] | None = field(default=None)
    sites: dict[str, np.ndarray] | None = field(default=None)

    def __post_init__(self):
        n = self.vectors.shape[2]
        assert self.vectors.ndim == 4, self.vectors.shape
        assert self.n_tokens.shape == (n,) and self.truncated.shape == (n,)
        assert self.token_counts is None or len(self.token_counts) == n
        for name, x in (self.sites or {}).items():
            assert x.ndim == 3 and x.shape[:2] == self.vectors.shape[1:3], (name, x.shape)


@dataclass
class TokenStates:
    """Unit-level states of one text, for the stages that need more than a sentence vector.

    units:   the runner's units in order (WordPieces without special tokens, or characters), length T.
    offsets: int32 [T, 2], each unit's character span [start, end) in the text.
    states:  float32 [n_layers, T, H], every layer (the runner's ``layer_names``) at every unit.
    sites:   other sites at every unit, or None: site name -> float32 [T, d_site] (as in ``Encoded.sites``).
    Texts longer than the runner's ``max_length`` are cut: ``units`` then covers only the part seen.
    """

    units: list[str]
    offsets: np.ndarray
    states: np.ndarray
    sites: dict[str, np.ndarray] | None = field(default=None)

    def __post_init__(self):
        t = len(self.units)
        assert self.offsets.shape == (t, 2), (self.offsets.shape, t)
        assert self.states.ndim == 3 and self.states.shape[1] == t, self.states.shape
        for name, x in (self.sites or {}).items():
            assert x.ndim == 2 and x.shape[0] == t, (name, x.shape)
