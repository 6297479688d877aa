"""PyTorch port of textgenrnn 2.0.0's pretrained character-level LSTM language model.

Architecture (all sizes from ``textgenrnn_weights.hdf5``)::

    chars [B, T] -> Embedding(465, 100) -> LSTM(128) -> LSTM(128)
    concat[embedding, lstm1, lstm2] [B, T, 356] -> AttentionWeightedAverage over T -> [B, 356]
    -> Dense(465) + softmax

The language model was trained on windows of the last 40 characters, left-padded with index 0, each
text starting with the ``<s>`` meta token (vocab index 464). Index 0 is the padding/placeholder row.

Unknown characters follow textgenrnn's inference path (``textgenrnn_encode_sequence`` does
``vocab.get(char, 0)``): as *inputs* they become index 0, the same row as padding. As *targets* they
cannot be predicted (index 0 was never a training target; textgenrnn's trainer skips samples whose
next character is not in the vocabulary), so ``log_likelihood`` leaves them out of the mean.

The weights were saved from Keras' CuDNNLSTM, whose kernels are cuDNN's per-gate matrices reinterpreted
in the wrong memory order; ``cudnn_lstm_to_torch`` undoes that the same way Keras' own
``preprocess_weights_for_loading`` does when loading them into a plain LSTM.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from pipeline.errors import PipelineError
from pipeline.models.base import Encoded, TokenStates

WINDOW = 40  # textgenrnn's config['max_length']: context length the model was trained on
META_TOKEN = "<s>"
PAD = 0
H = 128


def cudnn_lstm_to_torch(kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, fortran: bool = True):
    """Convert one Keras CuDNNLSTM layer to torch.nn.LSTM parameters.

    kernel [in, 4H], recurrent [H, 4H], bias [8H] (cuDNN keeps separate input and recurrent biases;
    Keras' LSTM sums them, torch keeps both). The gate order is i, f, c(=g), o in both libraries, so no
    reordering is needed. Returns (weight_ih [4H, in], weight_hh [4H, H], bias_ih [4H], bias_hh [4H]).

    ``fortran=False`` skips the column-major reshape of the input kernels; it exists only so the tests can
    show that a wrong conversion is detectably worse.
    """
    hidden = recurrent.shape[0]
    if kernel.shape[1] != 4 * hidden or recurrent.shape != (hidden, 4 * hidden) or bias.shape != (8 * hidden,):
        raise PipelineError(f"unexpected CuDNNLSTM weight shapes {kernel.shape}, {recurrent.shape}, {bias.shape}")
    order = "F" if fortran else "C"
    # cuDNN stores each gate's matrix transposed relative to what Keras assumes when it reshapes the flat
    # buffer into [in, H]; reading it back column-major recovers the real [in, H] matrix.
    k = np.concatenate([g.T.reshape(g.shape, order=order) for g in np.split(kernel, 4, axis=1)], axis=1)
    r = np.concatenate([g.T for g in np.split(recurrent, 4, axis=1)], axis=1)
    b_ih, b_hh = np.split(bias, 2)
    return k.T.copy(), r.T.copy(), b_ih.copy(), b_hh.copy()


class TextgenrnnLM(nn.Module):
    """The full textgenrnn network; ``forward`` maps index windows [B, T] to next-char log-probs [B, 465]."""

    def __init__(self, n_chars: int, dim_emb: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(n_chars, dim_emb)
        self.lstm1 = nn.LSTM(dim_emb, hidden, batch_first=True)
        self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
        self.attention = nn.Parameter(torch.zeros(dim_emb + 2 * hidden))
        self.output = nn.Linear(dim_emb + 2 * hidden, n_chars)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(idx)  # [B, T, 100]
        h1, _ = self.lstm1(emb)  # [B, T, 128]
        h2, _ = self.lstm2(h1)  # [B, T, 128]
        seq = torch.cat([emb, h1, h2], dim=-1)  # [B, T, 356]
        # Keras' Embedding has mask_zero=False, so padded steps take part in the attention, as in training.
        logits = seq @ self.attention  # [B, T]
        a = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
        a = a / (a.sum(dim=1, keepdim=True) + 1e-7)  # 1e-7 = K.epsilon(), kept for fidelity
        pooled = (seq * a.unsqueeze(-1)).sum(dim=1)  # [B, 356]
        return torch.log_softmax(self.output(pooled), dim=-1)  # [B, 465]


def load_textgenrnn(weights_path, fortran: bool = True) -> TextgenrnnLM:
    """Build a ``TextgenrnnLM`` from the Keras hdf5 file (read with h5py, no TensorFlow)."""
    try:
        with h5py.File(weights_path, "r") as f:
            w = {
                name: f[f"{name}/{name}/{leaf}:0"][()]
                for name, leaf in [
                    ("embedding", "embeddings"),
                    ("attention", "attention_W"),
                    ("output", "kernel"),
                ]
            }
            out_bias = f["output/output/bias:0"][()]
            rnn = [
                tuple(f[f"rnn_{i}/rnn_{i}/{leaf}:0"][()] for leaf in ("kernel", "recurrent_kernel", "bias"))
                for i in (1, 2)
            ]
    except (OSError, KeyError) as e:
        raise PipelineError(f"{weights_path}: not a textgenrnn weights file ({e})") from None

    n_chars, dim_emb = w["embedding"].shape
    model = TextgenrnnLM(n_chars, dim_emb, rnn[0][1].shape[0])
    with torch.no_grad():
        model.embedding.weight.copy_(torch.from_numpy(w["embedding"]))
        model.attention.copy_(torch.from_numpy(w["attention"][:, 0]))
        model.output.weight.copy_(torch.from_numpy(w["output"].T))
        model.output.bias.copy_(torch.from_numpy(out_bias))
        for lstm, params in ((model.lstm1, rnn[0]), (model.lstm2, rnn[1])):
            w_ih, w_hh, b_ih, b_hh = cudnn_lstm_to_torch(*params, fortran=fortran)
            lstm.weight_ih_l0.copy_(torch.from_numpy(w_ih))
            lstm.weight_hh_l0.copy_(torch.from_numpy(w_hh))
            lstm.bias_ih_l0.copy_(torch.from_numpy(b_ih))
            lstm.bias_hh_l0.copy_(torch.from_numpy(b_hh))
    return model.eval()


def _run_layer(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor):
    """Step one single-layer ``nn.LSTM`` by hand with its own weights, to expose per-step cell states.

    x [B, T, in], lengths [B]. Returns hidden, cell [B, T, H]; each row is frozen after its last real step,
    so rows past a text's length repeat its final state and padding never leaks into it.
    """
    B, T, _ = x.shape
    hidden = lstm.hidden_size
    # The input projection does not depend on the recurrence, so do it for all steps in one matmul.
    xw = x @ lstm.weight_ih_l0.T + (lstm.bias_ih_l0 + lstm.bias_hh_l0)  # [B, T, 4H]
    w_hh_t = lstm.weight_hh_l0.T  # [H, 4H]
    h = x.new_zeros(B, hidden)
    c = x.new_zeros(B, hidden)
    hs, cs = [], []
    for t in range(T):
        i, f, g, o = (xw[:, t] + h @ w_hh_t).chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        live = (t < lengths).unsqueeze(1)  # [B, 1]
        h = torch.where(live, h_new, h)
        c = torch.where(live, c_new, c)
        hs.append(h)
        cs.append(c)
    return torch.stack(hs, 1), torch.stack(cs, 1)


class LSTMRunner:
    """Sentence vectors from textgenrnn's two LSTM layers.

    Streams (``layer_names``, index = layer id): hidden and cell state of each LSTM layer, 128-d each.
    Poolings: ``final`` = state after the last character, ``mean`` = mean over all characters' states.
    """

    kind = "lstm"
    layer_names = ["lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell"]
    poolings: tuple[str, ...] = ("final", "mean")
    hidden_size: int = H
    model_name = "textgenrnn-2.0.0"

    def __init__(self, weights_path, vocab_path, run_id="textgenrnn", max_length=512, batch_size=64):
        self.run_id = run_id
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        try:
            with open(vocab_path, encoding="utf-8") as fh:
                self.vocab: dict[str, int] = json.load(fh)
        except (OSError, ValueError) as e:
            raise PipelineError(f"{vocab_path}: cannot read textgenrnn vocab ({e})") from None
        self.model = load_textgenrnn(weights_path)
        n_chars = self.model.embedding.num_embeddings
        if len(self.vocab) + 1 != n_chars or META_TOKEN not in self.vocab:
            raise PipelineError(f"{vocab_path}: vocab of {len(self.vocab)} does not fit {weights_path} ({n_chars} rows)")
        self.meta_index = self.vocab[META_TOKEN]
        self.index_char = {i: c for c, i in self.vocab.items()}

    @classmethod
    def from_fetched(cls, cache_dir=None, **kw):
        from pipeline.corpora.fetch import textgenrnn_files

        weights, vocab = textgenrnn_files(cache_dir)
        return cls(weights, vocab, **kw)

    def _indices(self, chars) -> list[int]:
        # Unknown characters -> 0, exactly like textgenrnn_encode_sequence at inference time.
        return [self.vocab.get(ch, PAD) for ch in chars]

    @torch.inference_mode()
    def _states(self, batch: list[str]):
        """Run texts (already truncated) from a zero state.

        Returns the 4 streams stacked [4, B, T, H] (T = longest text, at least 1) and lengths [B].
        Note: no ``<s>`` is prepended; the states describe the characters alone.
        """
        lengths = torch.tensor([len(t) for t in batch])
        T = max(1, int(lengths.max()))
        idx = torch.full((len(batch), T), PAD, dtype=torch.long)
        for row, text in enumerate(batch):
            if text:
                idx[row, : len(text)] = torch.tensor(self._indices(text))
        emb = self.model.embedding(idx)  # [B, T, 100]
        h1, c1 = _run_layer(self.model.lstm1, emb, lengths)
        h2, c2 = _run_layer(self.model.lstm2, h1, lengths)
        return torch.stack([h1, c1, h2, c2]), lengths

    def step_states(self, text: str) -> dict[str, np.ndarray]:
        """Per-character states of ``text`` (truncated to ``max_length``): {stream: float32 [T, 128]}."""
        text = text[: self.max_length]
        states, _ = self._states([text])
        return {name: states[k, 0, : len(text)].numpy().copy() for k, name in enumerate(self.layer_names)}

    def token_states(self, texts: list[str], progress: bool = False) -> list[TokenStates]:
        """Every stream's state at every character of each text (cut at ``max_length``): one ``TokenStates``
        per text, ``states`` float32 [4, T, 128]. Batched by length; padding never updates a row's state."""
        out: list[TokenStates | None] = [None] * len(texts)
        cut = [t[: self.max_length] for t in texts]
        order = sorted(range(len(cut)), key=lambda i: len(cut[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(cut), self.batch_size)]
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"{self.run_id} steps", unit="batch")
        for ids in batches:
            states, _ = self._states([cut[i] for i in ids])  # [4, B, T, H]
            states = states.numpy()
            for row, i in enumerate(ids):
                t = len(cut[i])
                out[i] = TokenStates(units=list(cut[i]),
                                     offsets=np.stack([np.arange(t), np.arange(1, t + 1)], 1).astype(np.int32),
                                     states=np.ascontiguousarray(states[:, row, :t]))
        return out

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """Encode N texts; ``vectors`` is float32 [4 streams, 2 poolings, N, 128].

        Each text runs from a zero state over its first ``max_length`` characters. Texts are batched by
        length (so little work is spent on padding) and padded steps never update a row's state, so a
        text's vectors do not depend on its batch mates. An empty text gets zero vectors.
        """
        n = len(texts)
        out = np.zeros((len(self.layer_names), len(self.poolings), n, H), dtype=np.float32)
        n_tokens = np.array([len(t) for t in texts], dtype=np.int64)
        truncated = n_tokens > self.max_length
        order = sorted(range(n), key=lambda i: n_tokens[i])
        batches = [order[s : s + self.batch_size] for s in range(0, n, self.batch_size)]
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"{self.run_id} encode", unit="batch")
        for ids in batches:
            states, lengths = self._states([texts[i][: self.max_length] for i in ids])  # [4, B, T, H]
            T = states.shape[2]
            valid = (torch.arange(T) < lengths.unsqueeze(1)).to(states.dtype)  # [B, T]
            last = (lengths - 1).clamp(min=0)
            final = states[:, torch.arange(len(ids)), last]  # [4, B, H]
            mean = (states * valid[None, :, :, None]).sum(2) / lengths.clamp(min=1)[None, :, None]
            empty = lengths == 0
            final[:, empty] = 0.0
            out[:, 0, ids] = final.numpy()
            out[:, 1, ids] = mean.numpy()
        return Encoded(vectors=out, n_tokens=n_tokens, truncated=truncated, token_counts=None)

    def _windows(self, seq: list[int]) -> torch.Tensor:
        """All 40-step left-padded windows predicting seq[1:], as textgenrnn's trainer builds them: [T-1, 40]."""
        padded = [PAD] * WINDOW + seq
        return torch.tensor([padded[j : j + WINDOW] for j in range(1, len(seq))], dtype=torch.long)

    @torch.inference_mode()
    def log_likelihood(self, text: str) -> float:
        """Mean log-probability (nats) per character of ``text``, each predicted from ``<s>`` plus the
        preceding characters, the last 40 tokens at most, left-padded with 0 (textgenrnn's training setup).
        Characters outside the vocabulary are not scored (see module docstring). NaN if none is scored.
        """
        seq = [self.meta_index] + self._indices(text)
        windows = self._windows(seq)  # [T, 40]
        targets = torch.tensor(seq[1:])
        scored = targets != PAD
        if not bool(scored.any()):
            return float("nan")
        chunk = 4 * self.batch_size
        logp = torch.cat([self.model(windows[s : s + chunk]) for s in range(0, len(windows), chunk)])  # [T, 465]
        picked = logp.gather(1, targets.unsqueeze(1)).squeeze(1)
        return float(picked[scored].mean())

    @torch.inference_mode()
    def generate(self, prefix: str, n_chars: int) -> str:
        """Greedy continuation of ``prefix`` (the continuation only, at most ``n_chars`` characters).

        Stops early when the model predicts ``<s>`` (end of text), as textgenrnn does. Index 0 is never
        chosen, since it is padding, not a character.
        """
        seq = [self.meta_index] + self._indices(prefix)
        out = []
        for _ in range(n_chars):
            window = ([PAD] * WINDOW + seq)[-WINDOW:]
            logp = self.model(torch.tensor([window]))[0]
            logp[PAD] = -float("inf")
            nxt = int(logp.argmax())
            if nxt == self.meta_index:
                break
            seq.append(nxt)
            out.append(self.index_char[nxt])
        return "".join(out)
