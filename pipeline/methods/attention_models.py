"""The torch parts of the attention stage: the study's LSTM autoencoder and the regression heads (Table 3).

Kept apart from ``analysis.attention`` because the dashboard has no torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def grid_attention(att, lengths, grid: int):
    """Each item's own n x n attention (per head) resized to grid x grid by adaptive average pooling, flattened:
    float32 [B, grid*grid, H], the autoencoder's input (steps = flattened positions, features = heads).

    att: torch [B, H, T, T] (right-padded); lengths: the items' true token counts."""
    import torch
    import torch.nn.functional as F

    out = []
    for b, n in enumerate(lengths):
        a = att[b, :, :n, :n].float().unsqueeze(0)  # [1, H, n, n]
        g = F.adaptive_avg_pool2d(a, grid)[0]  # [H, g, g]
        out.append(g.flatten(1).T)  # [g*g, H]
    return torch.stack(out).cpu().numpy().astype(np.float32)


def _autoencoder(n_features: int, hidden: int):
    import torch
    from torch import nn

    class LSTMAutoencoder(nn.Module):
        """BiLSTM encoder -> 2-D code -> LSTM decoder (the code repeated at every step) -> the heads back."""

        def __init__(self):
            super().__init__()
            self.enc = nn.LSTM(n_features, hidden, batch_first=True, bidirectional=True)
            self.to_code = nn.Linear(2 * hidden, 2)
            self.from_code = nn.Linear(2, hidden)
            self.dec = nn.LSTM(hidden, hidden, batch_first=True)
            self.out = nn.Linear(hidden, n_features)

        def encode(self, x):  # x [B, S, F] -> [B, 2]
            _, (h, _) = self.enc(x)  # h [2, B, hidden]
            return self.to_code(torch.cat([h[0], h[1]], dim=-1))

        def forward(self, x):
            code = self.encode(x)
            steps = self.from_code(code).unsqueeze(1).expand(-1, x.shape[1], -1).contiguous()
            y, _ = self.dec(steps)
            return self.out(y), code

    return LSTMAutoencoder()


def train_autoencoder(x: np.ndarray, hidden: int, epochs: int, batch: int, seed: int) -> tuple[np.ndarray, list[float]]:
    """The study's reduction of one layer: x float32 [N, S, H] (``grid_attention``), standardised per head;
    MSE loss, Adam, learning rate 1e-3. Returns the 2-D codes [N, 2] and the mean training loss of every epoch."""
    import torch

    torch.manual_seed(seed)
    mu = x.mean(axis=(0, 1), keepdims=True)
    sd = x.std(axis=(0, 1), keepdims=True)
    z = torch.from_numpy(((x - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32))
    model = _autoencoder(z.shape[-1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(z), generator=gen).split(batch):
            xb = z[idx]
            rec, _ = model(xb)
            loss = torch.nn.functional.mse_loss(rec, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(z))
    model.eval()
    with torch.inference_mode():
        codes = torch.cat([model.encode(z[i:i + 256]) for i in range(0, len(z), 256)]).numpy()
    return codes.astype(np.float32), losses


# ------------------------------------------------------------------------------------------------------
# Regression heads (the study's Table 3) on a frozen encoder
# ------------------------------------------------------------------------------------------------------

HEADS = ("cls", "mean", "max", "bilstm")


def pooled_features(last, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[CLS], mask-aware mean and max of the last hidden state. last torch [B, T, D], mask [B, T] -> 3 x [B, D]."""
    import torch

    m = mask.unsqueeze(-1).to(last.dtype)
    cls = last[:, 0]
    mean = (last * m).sum(1) / m.sum(1).clamp(min=1)
    mx = last.masked_fill(m == 0, float("-inf")).max(1).values
    return tuple(t.float().cpu().numpy() for t in (cls, mean, mx))


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from scipy import stats

    return {"pearson": float(stats.pearsonr(y_true, y_pred)[0]), "spearman": float(stats.spearmanr(y_true, y_pred)[0]),
            "mse": float(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2))}


def linear_head(x_train, y_train, x_test) -> np.ndarray:
    """The study's linear regressor on a pooled vector (ordinary least squares, as sklearn's LinearRegression)."""
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(x_train, y_train).predict(x_test)


def bilstm_head(tokens_train: list[np.ndarray], y_train, tokens_test: list[np.ndarray], epochs: int, seed: int,
                hidden: int = 64, batch: int = 32) -> np.ndarray:
    """A BiLSTM over the frozen encoder's last-layer token states, its final hidden states (both directions)
    into a linear regressor, trained with MSE / Adam 1e-3. tokens: per item float [T_i, D]. Returns test preds."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_sequence

    torch.manual_seed(seed)
    d = tokens_train[0].shape[1]

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(d, hidden, batch_first=True, bidirectional=True)
            self.lin = nn.Linear(2 * hidden, 1)

        def forward(self, seqs):
            _, (h, _) = self.lstm(pack_sequence(seqs, enforce_sorted=False))
            return self.lin(torch.cat([h[0], h[1]], -1)).squeeze(-1)

    model = Head()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y = torch.tensor(np.asarray(y_train, dtype=np.float32))
    tr = [torch.from_numpy(t.astype(np.float32)) for t in tokens_train]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(tr), generator=gen).split(batch):
            pred = model([tr[i] for i in idx.tolist()])
            loss = nn.functional.mse_loss(pred, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    te = [torch.from_numpy(t.astype(np.float32)) for t in tokens_test]
    with torch.inference_mode():
        return torch.cat([model(te[i:i + 128]) for i in range(0, len(te), 128)]).numpy()


def run_heads(train: dict, test: dict, epochs: int, seed: int) -> list[dict]:
    """Every head: rows {head, pearson, spearman, mse, seconds}. train/test: {cls, mean, max: [N, D],
    tokens: [T_i, D] list, y: [N]}."""
    rows = []
    for h in HEADS:
        t = time.time()
        if h == "bilstm":
            pred = bilstm_head(train["tokens"], train["y"], test["tokens"], epochs, seed)
        else:
            pred = linear_head(train[h], train["y"], test[h])
        rows.append({"head": h, **regression_scores(test["y"], pred), "seconds": time.time() - t})
    return rows


# ------------------------------------------------------------------------------------------------------
# Fine-tuning (optional: attention.heads_finetune_epochs > 0, and attention.finetune_epochs > 0 for the encoder
# whose attention is clustered)
# ------------------------------------------------------------------------------------------------------

@dataclass
class Finetuned:
    """A fine-tuned copy of an encoder and its head. ``encoder`` is in eval mode (the caller's model untouched);
    ``predict(texts_a, texts_b)`` gives scores on the training targets' scale; ``losses`` is each epoch's mean
    training MSE on the standardised targets; ``seconds`` / ``cpu_seconds`` the training's wall and CPU time."""

    encoder: object
    predict: object
    losses: list
    seconds: float
    cpu_seconds: float


def finetune(model, tok, head: str, train: tuple, max_length: int, epochs: int, seed: int, batch: int = 16,
             lr_encoder: float = 2e-5, lr_head: float = 1e-3, bar=None) -> Finetuned:
    """Fine-tune a copy of the encoder together with one head (cls / mean / max pooling into a linear regressor,
    or a BiLSTM over the token states) on (texts_a, texts_b, y) pairs with MSE; AdamW, lr 2e-5 for the encoder
    and 1e-3 for the head, seeded (torch's global seed for the head's initialisation and dropout, a generator for
    the batch order). ``bar`` (tqdm) is advanced by the pairs of each step."""
    import copy

    import torch
    from torch import nn

    t0, c0 = time.time(), time.process_time()
    torch.manual_seed(seed)
    enc = copy.deepcopy(model).float().train()  # trained in float32 whatever the run's dtype
    d = enc.config.hidden_size
    if head == "bilstm":
        rnn = nn.LSTM(d, 64, batch_first=True, bidirectional=True)
        lin = nn.Linear(128, 1)
        params = list(rnn.parameters()) + list(lin.parameters())
    else:
        rnn, lin = None, nn.Linear(d, 1)
        params = list(lin.parameters())
    opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": lr_encoder}, {"params": params, "lr": lr_head}])
    device = next(enc.parameters()).device
    lin.to(device)
    if rnn is not None:
        rnn.to(device)

    def forward(a, b):
        batch_enc = tok(a, b, truncation=True, max_length=max_length, padding=True, return_tensors="pt").to(device)
        last = enc(**batch_enc).last_hidden_state
        mask = batch_enc["attention_mask"]
        if head == "bilstm":
            from torch.nn.utils.rnn import pack_padded_sequence

            packed = pack_padded_sequence(last, mask.sum(1).cpu(), batch_first=True, enforce_sorted=False)
            _, (h, _) = rnn(packed)
            pooled = torch.cat([h[0], h[1]], -1)
        elif head == "cls":
            pooled = last[:, 0]
        else:
            m = mask.unsqueeze(-1).to(last.dtype)
            pooled = (last * m).sum(1) / m.sum(1).clamp(min=1) if head == "mean" else \
                last.masked_fill(m == 0, float("-inf")).max(1).values
        return lin(pooled).squeeze(-1)

    a_tr, b_tr, y_tr = train
    # standardised targets: a fresh linear head starts near 0, and few steps cannot move it to a 0-5 scale
    mu, sd = float(np.mean(y_tr)), float(np.std(y_tr)) or 1.0
    y = torch.tensor(((np.asarray(y_tr, dtype=np.float64) - mu) / sd).astype(np.float32), device=device)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(a_tr), generator=gen).split(batch):
            ii = idx.tolist()
            loss = nn.functional.mse_loss(forward([a_tr[i] for i in ii], [b_tr[i] for i in ii]), y[idx.to(device)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(ii)
            if bar is not None:
                bar.update(len(ii))
        losses.append(total / len(a_tr))
    enc.eval()
    lin.eval()
    if rnn is not None:
        rnn.eval()

    def predict(a, b):
        with torch.inference_mode():
            z = torch.cat([forward(a[i:i + 64], b[i:i + 64]) for i in range(0, len(a), 64)]).float().cpu().numpy()
        return z * sd + mu

    return Finetuned(enc, predict, losses, time.time() - t0, time.process_time() - c0)


def finetune_head(model, tok, head: str, train: tuple, test: tuple, max_length: int, epochs: int, seed: int,
                  **kw) -> np.ndarray:
    """The test predictions of ``finetune`` (the encoder copy is dropped)."""
    a_te, b_te, _ = test
    return finetune(model, tok, head, train, max_length, epochs, seed, **kw).predict(a_te, b_te)


def run_finetuned_heads(model, tok, train: tuple, test: tuple, max_length: int, epochs: int, seed: int) -> list[dict]:
    """Every head fine-tuned with the encoder: rows {head, pearson, spearman, mse, seconds (wall), cpu_seconds}."""
    rows = []
    for h in HEADS:
        t, c = time.time(), time.process_time()
        pred = finetune_head(model, tok, h, train, test, max_length, epochs, seed)
        rows.append({"head": h, **regression_scores(test[2], pred), "seconds": time.time() - t,
                     "cpu_seconds": time.process_time() - c})
    return rows
