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


class CharLSTMRunner:
    """Sentence vectors from a stack of LSTM layers over characters or bytes (textgenrnn's, or a user's own).

    Streams (``layer_names``, index = layer id): the hidden and the cell state of each LSTM layer,
    ``lstm{k}.hidden`` and ``lstm{k}.cell`` for k = 1..L, all ``hidden_size`` wide. Poolings: ``final`` = the
    state after the last unit, ``mean`` = the mean over every unit's state. A subclass gives the units
    (``_indices``, ``_spans``), the input layer (``_embed``) and the layers (``_lstms``, single-layer
    ``nn.LSTM`` each); every layer is stepped by hand (``_run_layer``) to expose the cell states.
    """

    kind = "lstm"
    poolings: tuple[str, ...] = ("final", "mean")
    layer_names: list[str]
    hidden_size: int
    model_name: str
    run_id: str
    max_length: int
    batch_size: int

    def _indices(self, text: str) -> list[int]:
        raise NotImplementedError

    def _spans(self, text: str, n: int) -> tuple[list[str], np.ndarray]:
        """The first ``n`` units of ``text`` as strings, with their character spans [start, end)."""
        return list(text[:n]), np.stack([np.arange(n), np.arange(1, n + 1)], 1).astype(np.int32)

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _lstms(self) -> list[nn.LSTM]:
        raise NotImplementedError

    def _seqs(self, texts: list[str]) -> list[list[int]]:
        return [self._indices(t)[: self.max_length] for t in texts]

    @torch.inference_mode()
    def _states(self, seqs: list[list[int]]):
        """Run unit index sequences (already truncated) from a zero state.

        Returns every stream stacked [2L, B, T, H] (T = longest sequence, at least 1) and lengths [B].
        Note: no start token is prepended; the states describe the text's own units alone.
        """
        lengths = torch.tensor([len(q) for q in seqs])
        T = max(1, int(lengths.max()))
        idx = torch.full((len(seqs), T), PAD, dtype=torch.long)
        for row, q in enumerate(seqs):
            if q:
                idx[row, : len(q)] = torch.tensor(q)
        x = self._embed(idx)  # [B, T, in]
        streams = []
        for lstm in self._lstms():
            h, c = _run_layer(lstm, x, lengths)
            streams += [h, c]
            x = h
        return torch.stack(streams), lengths

    def step_states(self, text: str) -> dict[str, np.ndarray]:
        """Per-unit states of ``text`` (cut at ``max_length`` units): {stream: float32 [T, H]}."""
        (seq,) = self._seqs([text])
        states, _ = self._states([seq])
        return {name: states[k, 0, : len(seq)].numpy().copy() for k, name in enumerate(self.layer_names)}

    def token_states(self, texts: list[str], progress: bool = False) -> list[TokenStates]:
        """Every stream's state at every unit of each text (cut at ``max_length``): one ``TokenStates``
        per text, ``states`` float32 [2L, T, H]. Batched by length; padding never updates a row's state."""
        out: list[TokenStates | None] = [None] * len(texts)
        seqs = self._seqs(texts)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(seqs), self.batch_size)]
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"{self.run_id} steps", unit="batch")
        for ids in batches:
            states, _ = self._states([seqs[i] for i in ids])  # [2L, B, T, H]
            states = states.numpy()
            for row, i in enumerate(ids):
                t = len(seqs[i])
                units, offsets = self._spans(texts[i], t)
                out[i] = TokenStates(units=units, offsets=offsets, states=np.ascontiguousarray(states[:, row, :t]))
        return out

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """Encode N texts; ``vectors`` is float32 [2L streams, 2 poolings, N, H].

        Each text runs from a zero state over its first ``max_length`` units. Texts are batched by length
        (so little work is spent on padding) and padded steps never update a row's state, so a text's
        vectors do not depend on its batch mates. An empty text gets zero vectors.
        """
        n = len(texts)
        out = np.zeros((len(self.layer_names), len(self.poolings), n, self.hidden_size), dtype=np.float32)
        full = [self._indices(t) for t in texts]
        n_tokens = np.array([len(q) for q in full], dtype=np.int64)
        truncated = n_tokens > self.max_length
        seqs = [q[: self.max_length] for q in full]
        order = sorted(range(n), key=lambda i: n_tokens[i])
        batches = [order[s : s + self.batch_size] for s in range(0, n, self.batch_size)]
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"{self.run_id} encode", unit="batch")
        for ids in batches:
            states, lengths = self._states([seqs[i] for i in ids])  # [2L, B, T, H]
            T = states.shape[2]
            valid = (torch.arange(T) < lengths.unsqueeze(1)).to(states.dtype)  # [B, T]
            last = (lengths - 1).clamp(min=0)
            final = states[:, torch.arange(len(ids)), last]  # [2L, B, H]
            mean = (states * valid[None, :, :, None]).sum(2) / lengths.clamp(min=1)[None, :, None]
            empty = lengths == 0
            final[:, empty] = 0.0
            out[:, 0, ids] = final.numpy()
            out[:, 1, ids] = mean.numpy()
        return Encoded(vectors=out, n_tokens=n_tokens, truncated=truncated, token_counts=None)


def stream_names(n_layers: int) -> list[str]:
    return [f"lstm{k}.{part}" for k in range(1, n_layers + 1) for part in ("hidden", "cell")]


class LSTMRunner(CharLSTMRunner):
    """textgenrnn's two LSTM(128) layers over characters, plus its language model (``log_likelihood``,
    ``generate``). Unknown characters are index 0, as in textgenrnn."""

    layer_names = stream_names(2)
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

    def _embed(self, idx):
        return self.model.embedding(idx)

    def _lstms(self):
        return [self.model.lstm1, self.model.lstm2]

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


# --- A user's own LSTM: a folder with an nn.LSTM state dict and a vocabulary file ---------------------------
WEIGHT_FILES = ("model.safetensors", "model.pt")
VOCAB_FILE = "vocab.json"
LSTM_PARAMS = ("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l")


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same one-line error
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise PipelineError(f"{path}: not a readable state dict ({first})") from None
    if hasattr(state, "state_dict"):  # a whole module saved with torch.save
        state = state.state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PipelineError(f"{path}: expected a state dict of tensors (nn.Module.state_dict())")
    return {k: v.float() for k, v in state.items()}


def _stack_from_state(state: dict, where: Path) -> tuple[list[nn.LSTM], torch.Tensor | None]:
    """Single-layer nn.LSTMs (one per layer of the saved stack) and the embedding matrix (or None)."""
    first = [k for k in state if k.endswith("weight_ih_l0")]
    if not first:
        raise PipelineError(f"{where}: no LSTM weights (keys such as lstm.weight_ih_l0, an nn.LSTM's state dict "
                            f"under the prefix 'lstm.')")
    prefix = min(first, key=len)[: -len("weight_ih_l0")]
    for k in state:
        if k.startswith(prefix) and (k.endswith("_reverse") or "weight_hr_l" in k):
            raise PipelineError(f"{where}: {k}: bidirectional LSTMs and proj_size are not supported")
    layers = []
    while f"{prefix}weight_ih_l{len(layers)}" in state:
        k = len(layers)
        w_ih, w_hh = state[f"{prefix}weight_ih_l{k}"], state[f"{prefix}weight_hh_l{k}"] \
            if f"{prefix}weight_hh_l{k}" in state else None
        if w_hh is None or w_hh.ndim != 2 or w_ih.ndim != 2 or w_ih.shape[0] != 4 * w_hh.shape[1] \
                or w_hh.shape[0] != w_ih.shape[0]:
            raise PipelineError(f"{where}: {prefix}weight_ih_l{k} / weight_hh_l{k}: not an LSTM layer's weights "
                                f"(want [4H, in] and [4H, H])")
        hidden = w_hh.shape[1]
        if layers and w_ih.shape[1] != layers[-1].hidden_size:
            raise PipelineError(f"{where}: {prefix}weight_ih_l{k} takes {w_ih.shape[1]} inputs but layer {k - 1} "
                                f"gives {layers[-1].hidden_size}")
        lstm = nn.LSTM(w_ih.shape[1], hidden, batch_first=True)
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(w_ih)
            lstm.weight_hh_l0.copy_(w_hh)
            for name in ("bias_ih_l", "bias_hh_l"):
                b = state.get(f"{prefix}{name}{k}")
                getattr(lstm, f"{name}0").copy_(b if b is not None else torch.zeros(4 * hidden))
        layers.append(lstm.eval())
    if len({m.hidden_size for m in layers}) > 1:
        raise PipelineError(f"{where}: layers of different widths {[m.hidden_size for m in layers]} (every stored "
                            f"layer of a run has one width)")
    emb = state.get("embedding.weight")
    if emb is not None and (emb.ndim != 2 or emb.shape[1] != layers[0].input_size):
        raise PipelineError(f"{where}: embedding.weight is {list(emb.shape)} but {prefix}weight_ih_l0 takes "
                            f"{layers[0].input_size} inputs")
    return layers, emb


class TorchLSTMRunner(CharLSTMRunner):
    """A user's own LSTM, run through the same stepping and pooling as textgenrnn.

    The folder holds ``model.safetensors`` or ``model.pt``, a state dict with
      - ``lstm.weight_ih_l{k}``, ``lstm.weight_hh_l{k}`` and optionally ``lstm.bias_ih_l{k}``,
        ``lstm.bias_hh_l{k}`` for k = 0..L-1 (an ``nn.LSTM(num_layers=L)``'s own state dict saved under the
        prefix ``lstm.``; unidirectional, no proj_size),
      - optionally ``embedding.weight`` [V, input_size]; without it each unit enters one-hot (input_size = V).
      Other keys (an output head, ...) are ignored.
    and ``vocab.json``, the units:
      - ``{"level": "byte"}``: the text's UTF-8 bytes, unit index = byte value + ``offset`` (default 0), as the
        byte-level mLSTM of the sentiment-neuron paper;
      - ``{"level": "char", "index": {"a": 1, ...}, "unknown": 0}``: one unit per character; characters not in
        ``index`` get ``unknown`` (default 0).
    Index 0 is also what padded steps read; padding never updates a row's state, so any row 0 is fine.
    """

    def __init__(self, folder, run_id="lstm", max_length=512, batch_size=64):
        folder = Path(folder)
        if not folder.is_dir():
            raise PipelineError(f"model {run_id!r}: {folder}: no such folder (an LSTM folder holds "
                                f"{' or '.join(WEIGHT_FILES)} and {VOCAB_FILE})")
        weights = next((folder / f for f in WEIGHT_FILES if (folder / f).exists()), None)
        if weights is None:
            raise PipelineError(f"{folder}: no {' or '.join(WEIGHT_FILES)} (an nn.LSTM state dict)")
        self.run_id, self.max_length, self.batch_size = run_id, int(max_length), int(batch_size)
        self.lstms, self.embedding = _stack_from_state(_read_state(weights), weights)
        self.n_inputs = self.embedding.shape[0] if self.embedding is not None else self.lstms[0].input_size
        self.layer_names = stream_names(len(self.lstms))
        self.hidden_size = int(self.lstms[0].hidden_size)
        self.model_name = folder.resolve().name
        self._read_vocab(folder / VOCAB_FILE)

    def _read_vocab(self, path: Path) -> None:
        try:
            vocab = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PipelineError(f"{path}: cannot read the LSTM vocabulary ({e})") from None
        level = vocab.get("level") if isinstance(vocab, dict) else None
        n = self.n_inputs
        if level == "byte":
            self.offset = vocab.get("offset", 0)
            if not isinstance(self.offset, int) or self.offset < 0 or self.offset + 256 > n:
                raise PipelineError(f"{path}: offset: bytes take indices offset..offset+255, which must fit the "
                                    f"model's {n} input rows (offset {self.offset!r})")
            self.level, self.index, self.unknown = "byte", None, None
            return
        if level != "char":
            raise PipelineError(f"{path}: level must be \"byte\" or \"char\", got {level!r}")
        index, unknown = vocab.get("index"), vocab.get("unknown", 0)
        if not isinstance(index, dict) or not index or not all(isinstance(c, str) and len(c) == 1 for c in index):
            raise PipelineError(f"{path}: index must map single characters to input rows")
        for c, i in [*index.items(), ("unknown", unknown)]:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
                raise PipelineError(f"{path}: index of {c!r} is {i!r}, outside the model's {n} input rows")
        self.level, self.index, self.unknown = "char", index, unknown

    def _indices(self, text: str) -> list[int]:
        if self.level == "byte":
            return [b + self.offset for b in text.encode("utf-8")]
        return [self.index.get(ch, self.unknown) for ch in text]

    def _spans(self, text: str, n: int):
        if self.level == "char":
            return super()._spans(text, n)
        units, spans = [], []
        for i, ch in enumerate(text):
            for _ in ch.encode("utf-8"):  # every byte of a character shows that character
                units.append(ch)
                spans.append((i, i + 1))
        return units[:n], np.asarray(spans[:n], dtype=np.int32).reshape(-1, 2)

    def _embed(self, idx):
        if self.embedding is None:
            return torch.nn.functional.one_hot(idx, self.n_inputs).float()
        return torch.nn.functional.embedding(idx, self.embedding)

    def _lstms(self):
        return self.lstms
