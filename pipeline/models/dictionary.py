"""Dictionaries on a site: a user's SAE (SAELens layout), a plain directions file, or a TopK SAE trained here.

A dictionary turns a site's activations x (float32 [n, d_in]) into feature activations (float32 [n, n_features]);
each feature is then a unit like a neuron. All kinds share one linear-then-nonlinear form:

    pre = (normalise(x) - b_dec * apply_b_dec_to_input) @ W_enc + b_enc           [n, n_features]
    sae-relu:      a = relu(pre)
    sae-jumprelu:  a = relu(pre) * (pre > threshold)                                  (threshold [n_features])
    sae-topk:      a = relu(pre) with all but each row's k largest entries set to 0
    directions:    a = pre, with W_enc = D.T, b_enc = b_dec = 0: the projection x @ D.T
    decode(a)      = a @ W_dec + b_dec                                                (in the normalised space)

SAELens folders (``cfg.json`` + ``sae_weights.safetensors``) are read across its config versions: pre-6.0 files
(``architecture`` "standard" | "jumprelu", ``activation_fn_str`` or ``activation_fn`` "relu" | "topk" with
``activation_fn_kwargs: {"k": ...}``, ``hook_name`` / ``hook_point``) and 6.x files (``architecture`` "standard" |
"jumprelu" | "topk", top-level ``k``, ``metadata.hook_name``, ``rescale_acts_by_decoder_norm``). JumpReLU needs the
``threshold`` tensor (``log_threshold`` is accepted and exponentiated). ``normalize_activations`` "none",
"constant_norm_rescale" (x * sqrt(d_in) / ||x||) and "layer_norm" are applied per token;
"expected_average_only_in" needs the dataset's scaling factor, which SAELens keeps outside the folder, so it must
be passed (``norm_scaling_factor``) and is folded into the weights the way SAELens folds it. A pre-6.0
``finetuning_scaling_factor`` / ``scaling_factor`` tensor (which multiplies the activations before the decoder) is
folded into the decoder rows.

A plain directions file (.npy, .pt, .safetensors; shape [n_features, d_model]) is the simplest dictionary. Its
rows are unit-normalised by default, so a feature's activation is the signed length of x's component along that
direction: the same scale as a neuron (a one-hot direction) and as the drift page's random unit directions, and
independent of how the file's author scaled each row. ``normalize=False`` keeps the raw rows (x @ D.T).

Bad input raises ``PipelineError`` with one line naming the file and the parameter at fault.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

KINDS = ("sae-relu", "sae-jumprelu", "sae-topk", "directions")
NORMALIZATIONS = ("none", "constant_norm_rescale", "layer_norm")
SAE_CFG = "cfg.json"
SAE_WEIGHTS = "sae_weights.safetensors"
DIRECTION_SUFFIXES = (".npy", ".pt", ".pth", ".safetensors")
ENCODE_BATCH = 4096


@dataclass(frozen=True, eq=False)
class Dictionary:
    """A dictionary of ``n_features`` features on a ``d_in``-wide site (the arrays are float32 and read-only).

    W_enc [d_in, n_features], b_enc [n_features], W_dec [n_features, d_in], b_dec [d_in]; threshold [n_features]
    for sae-jumprelu; k for sae-topk. ``source`` says where it came from (a path, or the training run).
    """

    kind: str
    W_enc: np.ndarray
    b_enc: np.ndarray
    W_dec: np.ndarray
    b_dec: np.ndarray
    source: str
    apply_b_dec_to_input: bool = True
    threshold: np.ndarray | None = None
    k: int | None = None
    normalize_activations: str = "none"
    rescale_acts_by_decoder_norm: bool = False
    hook_name: str | None = None
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ValueError(f"normalize_activations {self.normalize_activations!r} is not one of {NORMALIZATIONS}")
        for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold"):
            a = getattr(self, name)
            if a is not None:
                a = np.ascontiguousarray(a, dtype=np.float32)
                a.setflags(write=False)
                object.__setattr__(self, name, a)
        d, n = self.W_enc.shape
        if self.W_dec.shape != (n, d) or self.b_enc.shape != (n,) or self.b_dec.shape != (d,):
            raise ValueError(f"inconsistent shapes W_enc {self.W_enc.shape}, b_enc {self.b_enc.shape}, "
                             f"W_dec {self.W_dec.shape}, b_dec {self.b_dec.shape}")
        if (self.kind == "sae-jumprelu") != (self.threshold is not None):
            raise ValueError("a threshold goes with kind sae-jumprelu, and only with it")
        if self.threshold is not None and self.threshold.shape != (n,):
            raise ValueError(f"threshold has shape {self.threshold.shape}, expected ({n},)")
        if self.kind == "sae-topk":
            if self.k is None or not 1 <= int(self.k) <= n:
                raise ValueError(f"sae-topk needs 1 <= k <= n_features={n}; got k={self.k}")
            object.__setattr__(self, "k", int(self.k))
        elif self.k is not None:
            raise ValueError("k goes with kind sae-topk, and only with it")

    @property
    def d_in(self) -> int:
        return int(self.W_enc.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.W_enc.shape[1])

    @property
    def directions(self) -> np.ndarray:
        """float32 [n_features, d_in]: the decoder rows, each feature's direction in the site's space."""
        return self.W_dec

    def unit_directions(self) -> np.ndarray:
        """float32 [n_features, d_in]: the decoder rows scaled to unit length (zero rows stay zero), for cosines."""
        norms = np.linalg.norm(self.W_dec.astype(np.float64), axis=1, keepdims=True)
        return (self.W_dec / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def describe(self) -> str:
        extra = {"sae-topk": f", k={self.k}", "sae-jumprelu": ", JumpReLU threshold"}.get(self.kind, "")
        return f"{self.kind} ({self.n_features} features on d_in={self.d_in}{extra}) from {self.source}"

    # -- inference ---------------------------------------------------------------------------------------------
    @cached_property
    def _t(self) -> dict:
        import torch

        t = {name: torch.tensor(getattr(self, name)) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
        t["threshold"] = None if self.threshold is None else torch.tensor(self.threshold)
        t["dec_norm"] = torch.linalg.vector_norm(t["W_dec"], dim=1) if self.rescale_acts_by_decoder_norm else None
        return t

    def _check_x(self, x) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"x must be [n, {self.d_in}]; got shape {x.shape}")
        return x

    def _normalise(self, xt):
        import torch

        if self.normalize_activations == "constant_norm_rescale":
            norm = torch.linalg.vector_norm(xt, dim=1, keepdim=True)
            coef = math.sqrt(self.d_in) / torch.where(norm > 0, norm, torch.ones_like(norm))
            return xt * coef, ("scale", coef)
        if self.normalize_activations == "layer_norm":
            mu = xt.mean(dim=1, keepdim=True)
            xc = xt - mu
            std = xc.std(dim=1, keepdim=True)
            return xc / (std + 1e-5), ("ln", mu, std)
        return xt, None

    def _denormalise(self, yt, state):
        if state is None:
            return yt
        if state[0] == "scale":
            return yt / state[1]
        return yt * state[2] + state[1]

    def _activate(self, pre):
        """(values, indices) for sae-topk (the k kept entries), else the dense activations."""
        import torch

        t = self._t
        if self.kind == "directions":
            return pre
        if self.kind == "sae-topk":
            if t["dec_norm"] is not None:
                pre = pre * t["dec_norm"]
            vals, idx = torch.topk(pre, self.k, dim=1, sorted=False)
            return vals.clamp_min_(0), idx
        a = pre.clamp_min(0)
        if self.kind == "sae-jumprelu":
            a = a * (pre > t["threshold"])
        return a

    def _encode_block(self, xb: np.ndarray):
        import torch

        t = self._t
        xt, state = self._normalise(torch.from_numpy(xb))
        if self.apply_b_dec_to_input:
            xt = xt - t["b_dec"]
        pre = torch.addmm(t["b_enc"], xt, t["W_enc"])
        return self._activate(pre), state

    def _dense_block(self, xb: np.ndarray, out=None):
        """encode(xb) as a torch tensor, written into ``out`` (a [len(xb), n_features] tensor) when given."""
        import torch

        act, _ = self._encode_block(xb)
        if isinstance(act, tuple):
            vals, idx = act
            out = torch.zeros(len(vals), self.n_features) if out is None else out.zero_()
            return out.scatter_(1, idx, vals)
        return act if out is None else out.copy_(act)

    def iter_encode(self, x: np.ndarray, batch_size: int = ENCODE_BATCH):
        """Yield (start, float32 [b, n_features]) dense blocks of ``encode(x)``, ``batch_size`` rows at a time."""
        import torch

        x = self._check_x(x)
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                yield s, self._dense_block(x[s:s + batch_size]).numpy()

    def encode(self, x: np.ndarray, batch_size: int = ENCODE_BATCH) -> np.ndarray:
        """float32 [n, n_features] feature activations of x (float32 [n, d_in]), computed in torch batches."""
        import torch

        x = self._check_x(x)
        out = np.empty((len(x), self.n_features), dtype=np.float32)
        ot = torch.from_numpy(out)
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                self._dense_block(x[s:s + batch_size], ot[s:s + batch_size])
        return out

    def encode_csr(self, x: np.ndarray, batch_size: int = ENCODE_BATCH):
        """``encode(x)`` as a scipy.sparse CSR matrix (float32 [n, n_features], explicit zeros dropped): the form
        that fits every token of a corpus in memory when the dictionary is sparse (sae-topk stores n * k values)."""
        import scipy.sparse as sp
        import torch

        x = self._check_x(x)
        parts = []
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                out, _ = self._encode_block(x[s:s + batch_size])
                if isinstance(out, tuple):
                    vals, idx = out
                    order = torch.argsort(idx, dim=1)
                    vals, idx = vals.gather(1, order), idx.gather(1, order)
                    b = len(vals)
                    m = sp.csr_matrix((vals.numpy().ravel(), idx.numpy().ravel().astype(np.int32),
                                       np.arange(0, b * self.k + 1, self.k)), shape=(b, self.n_features))
                    m.eliminate_zeros()
                else:
                    m = sp.csr_matrix(out.numpy())
                parts.append(m)
        if not parts:
            return sp.csr_matrix((0, self.n_features), dtype=np.float32)
        return sp.vstack(parts, format="csr", dtype=np.float32)

    def decode(self, a: np.ndarray, batch_size: int = ENCODE_BATCH) -> np.ndarray:
        """float32 [n, d_in] = a @ W_dec + b_dec for activations a [n, n_features] (in the SAE's input space; with a
        per-token ``normalize_activations`` use ``reconstruct``, which undoes it)."""
        import torch

        a = np.asarray(a, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != self.n_features:
            raise ValueError(f"a must be [n, {self.n_features}]; got shape {a.shape}")
        t = self._t
        out = np.empty((len(a), self.d_in), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(a), batch_size):
                ab = torch.from_numpy(a[s:s + batch_size])
                if t["dec_norm"] is not None:
                    ab = ab / t["dec_norm"]
                out[s:s + len(ab)] = torch.addmm(t["b_dec"], ab, t["W_dec"]).numpy()
        return out

    def reconstruct(self, x: np.ndarray, batch_size: int = ENCODE_BATCH) -> np.ndarray:
        """float32 [n, d_in]: decode(encode(x)) in the site's own space (any per-token normalisation undone)."""
        import torch
        import torch.nn.functional as F

        x = self._check_x(x)
        t = self._t
        out = np.empty_like(x)
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                act, state = self._encode_block(x[s:s + batch_size])
                if isinstance(act, tuple):
                    vals, idx = act
                    if t["dec_norm"] is not None:
                        vals = vals / t["dec_norm"][idx]
                    y = F.embedding_bag(idx, t["W_dec"], per_sample_weights=vals, mode="sum") + t["b_dec"]
                else:
                    y = torch.addmm(t["b_dec"], act, t["W_dec"])
                out[s:s + len(y)] = self._denormalise(y, state).numpy()
        return out

    def explained_variance(self, x: np.ndarray, batch_size: int = ENCODE_BATCH) -> float:
        """1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over the rows of x (float64 sums)."""
        x = self._check_x(x)
        x_hat = self.reconstruct(x, batch_size)
        resid = float(np.sum((x.astype(np.float64) - x_hat) ** 2))
        total = float(np.sum((x - x.mean(axis=0, dtype=np.float64)) ** 2))
        return 1.0 - resid / total if total > 0 else float("nan")


# -- loading -----------------------------------------------------------------------------------------------------
def _width_error(where: Path, what: str, got: int, d_in: int, site: str | None) -> PipelineError:
    at = f"the site {site}" if site else "the site"
    return PipelineError(f"{where}: {what} is {got}, but {at} is {d_in} wide (d_in must match the site's width)")


def _finite(where: Path, name: str, a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise PipelineError(f"{where}: {name} has non-finite values (NaN or inf)")
    return a


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors or .pt file as float32 numpy (bfloat16/float16 upcast)."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader failure is the file's fault here
        raise PipelineError(f"{path}: cannot be read as {path.suffix} ({type(e).__name__}: {e})") from None
    if isinstance(obj, torch.Tensor):
        obj = {"": obj}
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PipelineError(f"{path}: expected a tensor or a dict of tensors, found {type(obj).__name__}")
    return {k: v.detach().to(torch.float32).numpy() for k, v in obj.items()}


def _cfg_int(cfg: dict, key: str, cfg_path: Path, minimum: int = 1) -> int:
    v = cfg.get(key)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise PipelineError(f"{cfg_path}: {key} must be an integer >= {minimum}; got {v!r}")
    return v


def load_saelens(folder, d_in: int | None = None, site: str | None = None,
                 norm_scaling_factor: float | None = None) -> Dictionary:
    """A Dictionary from an SAELens folder (``cfg.json`` + ``sae_weights.safetensors``).

    d_in: the site's width, checked against the config (None: not checked). norm_scaling_factor: for
    ``normalize_activations: expected_average_only_in`` only (folded into W_enc, W_dec and b_dec).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: no such folder (an SAELens SAE is a folder with {SAE_CFG} and {SAE_WEIGHTS})")
    cfg_path, w_path = folder / SAE_CFG, folder / SAE_WEIGHTS
    if not cfg_path.is_file():
        raise PipelineError(f"{folder}: no {SAE_CFG} (an SAELens SAE folder has {SAE_CFG} and {SAE_WEIGHTS})")
    if not w_path.is_file():
        raise PipelineError(f"{folder}: no {SAE_WEIGHTS}, the weights file of the SAELens layout (found: "
                            f"{', '.join(sorted(p.name for p in folder.iterdir())) or 'nothing'})")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PipelineError(f"{cfg_path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(cfg, dict):
        raise PipelineError(f"{cfg_path}: expected a JSON object")
    cfg_d_in, d_sae = _cfg_int(cfg, "d_in", cfg_path), _cfg_int(cfg, "d_sae", cfg_path)
    if d_in is not None and cfg_d_in != d_in:
        raise _width_error(cfg_path, "d_in", cfg_d_in, d_in, site)

    arch = cfg.get("architecture", "standard")
    act = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if arch not in ("standard", "jumprelu", "topk"):
        raise PipelineError(f"{cfg_path}: architecture {arch!r} is not supported (standard, jumprelu, topk)")
    if act not in ("relu", "topk"):
        raise PipelineError(f"{cfg_path}: activation_fn {act!r} is unknown (relu, topk; or architecture jumprelu)")
    if arch == "topk" or act == "topk":
        if arch == "jumprelu":
            raise PipelineError(f"{cfg_path}: architecture 'jumprelu' with activation_fn 'topk' is not a known SAE")
        kind = "sae-topk"
        k = cfg.get("k", kwargs.get("k") if isinstance(kwargs, dict) else None)
        if k is None:
            raise PipelineError(f"{cfg_path}: a TopK SAE needs k (top-level k, or activation_fn_kwargs.k)")
        if isinstance(k, float) and k.is_integer():
            k = int(k)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= d_sae:
            raise PipelineError(f"{cfg_path}: k must be an integer in 1..d_sae={d_sae}; got {k!r}")
    else:
        kind, k = ("sae-jumprelu" if arch == "jumprelu" else "sae-relu"), None

    norm = cfg.get("normalize_activations", "none")
    if norm is None or norm is False:
        norm = "none"
    elif norm is True:  # the pre-string-valued flag meant the dataset-average scaling
        norm = "expected_average_only_in"
    if norm not in NORMALIZATIONS + ("expected_average_only_in",):
        raise PipelineError(f"{cfg_path}: normalize_activations {norm!r} is unknown "
                            f"({', '.join(NORMALIZATIONS)}, expected_average_only_in)")
    if norm == "expected_average_only_in" and norm_scaling_factor is None:
        raise PipelineError(f"{cfg_path}: normalize_activations 'expected_average_only_in' needs the dataset's "
                            "norm scaling factor, which is not in the folder: pass norm_scaling_factor, or fold it "
                            "into the weights and set normalize_activations to 'none'")

    tensors = _read_tensors(w_path)
    expected = {"W_enc": (cfg_d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, cfg_d_in), "b_dec": (cfg_d_in,)}
    if kind == "sae-jumprelu" and "threshold" not in tensors and "log_threshold" in tensors:
        tensors["threshold"] = np.exp(tensors.pop("log_threshold"))
    if kind == "sae-jumprelu":
        expected["threshold"] = (d_sae,)
    w = {}
    for name, shape in expected.items():
        if name not in tensors:
            raise PipelineError(f"{w_path}: no tensor {name!r} (has: {', '.join(sorted(tensors)) or 'none'})")
        if tensors[name].shape != shape:
            raise PipelineError(f"{w_path}: {name} has shape {tuple(tensors[name].shape)}, but cfg.json's d_in="
                                f"{cfg_d_in}, d_sae={d_sae} make it {shape}")
        w[name] = _finite(w_path, name, tensors[name])
    scale = tensors.get("finetuning_scaling_factor", tensors.get("scaling_factor"))
    if scale is not None:
        if scale.shape != (d_sae,):
            raise PipelineError(f"{w_path}: scaling factor has shape {scale.shape}, expected ({d_sae},)")
        w["W_dec"] = w["W_dec"] * _finite(w_path, "scaling_factor", scale)[:, None]
    if norm == "expected_average_only_in":
        s = float(norm_scaling_factor)
        if not (math.isfinite(s) and s > 0):
            raise PipelineError(f"{cfg_path}: norm_scaling_factor must be a positive number; got {norm_scaling_factor!r}")
        w["W_enc"], w["W_dec"], w["b_dec"] = w["W_enc"] * s, w["W_dec"] / s, w["b_dec"] / s
        norm = "none"
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    hook = cfg.get("hook_name") or cfg.get("hook_point") or meta.get("hook_name")
    return Dictionary(kind=kind, W_enc=w["W_enc"], b_enc=w["b_enc"], W_dec=w["W_dec"], b_dec=w["b_dec"],
                      threshold=w.get("threshold"), k=k, source=str(folder),
                      apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
                      normalize_activations=norm, hook_name=hook,
                      rescale_acts_by_decoder_norm=kind == "sae-topk" and bool(cfg.get("rescale_acts_by_decoder_norm")),
                      config=cfg)


def load_directions(path, d_in: int | None = None, site: str | None = None, normalize: bool = True,
                    key: str | None = None) -> Dictionary:
    """A ``directions`` Dictionary from a [n_features, d_model] array in a .npy, .pt/.pth or .safetensors file.

    A .pt / .safetensors file may hold one tensor, or several with ``key`` naming the one to use (a file holding
    only "directions" or only "W_dec" besides others also works). normalize: unit-normalise the rows (default; see
    the module docstring), so encode(x) = x @ (D / ||D||_rows).T.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: no such directions file")
    suffix = path.suffix.lower()
    if suffix not in DIRECTION_SUFFIXES:
        raise PipelineError(f"{path}: unknown directions file type {path.suffix!r} (use {', '.join(DIRECTION_SUFFIXES)})")
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            raise PipelineError(f"{path}: cannot be read as .npy ({type(e).__name__}: {e})") from None
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise PipelineError(f"{path}: directions must be real numbers; dtype is {arr.dtype}")
    else:
        tensors = _read_tensors(path)
        if key is not None:
            if key not in tensors:
                raise PipelineError(f"{path}: key {key!r} not in the file (has: {', '.join(sorted(tensors))})")
            arr = tensors[key]
        elif len(tensors) == 1:
            arr = next(iter(tensors.values()))
        else:
            named = [n for n in ("directions", "W_dec") if n in tensors]
            if not named:
                raise PipelineError(f"{path}: holds several tensors ({', '.join(sorted(tensors))}); "
                                    "say which one is the directions (key)")
            arr = tensors[named[0]]
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 2:
        raise PipelineError(f"{path}: directions must be a 2-D array [n_features, d_model]; got shape {arr.shape}")
    n, width = arr.shape
    if n < 1 or width < 1:
        raise PipelineError(f"{path}: directions array is empty (shape {arr.shape})")
    if d_in is not None and width != d_in:
        hint = " (transposed? the shape must be [n_features, d_model])" if n == d_in else ""
        at = f"the site {site}" if site else "the site"
        raise PipelineError(f"{path}: directions have shape {arr.shape}: d_model is {width}, but {at} is "
                            f"{d_in} wide{hint}")
    _finite(path, "directions", arr)
    if normalize:
        norms = np.linalg.norm(arr.astype(np.float64), axis=1)
        if np.any(norms == 0):
            raise PipelineError(f"{path}: direction row {int(np.argmax(norms == 0))} is all zeros "
                                "(a direction needs a nonzero length)")
        arr = (arr / norms[:, None]).astype(np.float32)
    return Dictionary(kind="directions", W_enc=arr.T, b_enc=np.zeros(n, np.float32), W_dec=arr,
                      b_dec=np.zeros(width, np.float32), apply_b_dec_to_input=False, source=str(path),
                      config={"normalize": bool(normalize), "key": key})


def load_dictionary(path, d_in: int | None = None, site: str | None = None, **kwargs) -> Dictionary:
    """Load whatever ``path`` is: an SAELens folder (or its cfg.json / sae_weights.safetensors), else a directions
    file. d_in: the site's width, checked. kwargs go to ``load_saelens`` / ``load_directions``."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: no such file or folder (a dictionary is an SAELens folder with {SAE_CFG} and "
                            f"{SAE_WEIGHTS}, or a directions file: {', '.join(DIRECTION_SUFFIXES)})")
    if path.is_dir():
        return load_saelens(path, d_in=d_in, site=site, **kwargs)
    if path.name in (SAE_CFG, SAE_WEIGHTS):
        return load_saelens(path.parent, d_in=d_in, site=site, **kwargs)
    return load_directions(path, d_in=d_in, site=site, **kwargs)


def save_saelens(dictionary: Dictionary, folder, hook_name: str | None = None, model_name: str | None = None,
                 extra: dict | None = None) -> Path:
    """Write an SAE Dictionary in the SAELens layout (cfg.json + sae_weights.safetensors); returns the folder.

    The config carries both the pre-6.0 keys (activation_fn_str, activation_fn_kwargs, flat hook_name) and the
    6.x ones (architecture "topk", top-level k, metadata.hook_name), so either SAELens generation reads it.
    ``extra`` (JSON-serialisable) is stored under "illusion_lab", which SAELens ignores.
    """
    from safetensors.numpy import save_file

    if dictionary.kind == "directions":
        raise ValueError("a directions dictionary is not an SAE; save its directions array instead")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arch = {"sae-relu": "standard", "sae-jumprelu": "jumprelu", "sae-topk": "topk"}[dictionary.kind]
    hook = hook_name or dictionary.hook_name
    cfg = {
        "architecture": arch, "d_in": dictionary.d_in, "d_sae": dictionary.n_features,
        "activation_fn_str": "topk" if arch == "topk" else "relu",
        "activation_fn_kwargs": {"k": dictionary.k} if arch == "topk" else {},
        "apply_b_dec_to_input": dictionary.apply_b_dec_to_input,
        "normalize_activations": dictionary.normalize_activations,
        "dtype": "float32", "device": "cpu", "hook_name": hook, "model_name": model_name,
        "metadata": {"hook_name": hook, "model_name": model_name},
    }
    if arch == "topk":
        cfg["k"] = dictionary.k
        cfg["rescale_acts_by_decoder_norm"] = dictionary.rescale_acts_by_decoder_norm
    if extra:
        cfg["illusion_lab"] = extra
    tensors = {name: np.ascontiguousarray(getattr(dictionary, name)) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    if dictionary.threshold is not None:
        tensors["threshold"] = np.ascontiguousarray(dictionary.threshold)
    save_file(tensors, str(folder / SAE_WEIGHTS))
    (folder / SAE_CFG).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return folder


# -- training ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TrainReport:
    """How a ``train_topk_sae`` run went. Arrays are float64 unless said otherwise.

    explained_variance_*: 1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over that split's tokens, in the
                          site's units, with the returned Dictionary: the held-out tokens, and the training
                          tokens (all of them, or a seeded sample of ``eval_max`` when there are more).
    density:              [n_features] share of held-out tokens on which each feature is nonzero.
    density_train:        the same on the training tokens evaluated.
    dead_features:        features with density 0 on the held-out tokens.
    l0_mean:              mean number of nonzero features per held-out token (<= k).
    heldout_index:        int64, the rows of x held out (sorted); the rest were trained on.
    train_eval_index:     int64, the training rows of x the *_train figures use (sorted).
    fvu_history:          float32 [steps], each step's training-batch fraction of variance unexplained.
    seconds:              wall time of the whole call; train_seconds: of the optimisation loop alone.
    input_scale:          the constant x was multiplied by during training (mean squared norm d_in), folded
                          back into the biases of the returned Dictionary.
    """

    n_train: int
    n_heldout: int
    d_in: int
    n_features: int
    k: int
    explained_variance_train: float
    explained_variance_heldout: float
    density: np.ndarray
    density_train: np.ndarray
    dead_features: int
    l0_mean: float
    steps: int
    epochs: float
    batch_size: int
    lr: float
    seed: int
    seconds: float
    train_seconds: float
    input_scale: float
    aux_k: int
    aux_coef: float
    heldout_index: np.ndarray
    train_eval_index: np.ndarray
    fvu_history: np.ndarray

    def summary(self) -> dict:
        """The scalar fields (JSON-ready), e.g. for a warehouse row or a log line."""
        keys = ("n_train", "n_heldout", "d_in", "n_features", "k", "explained_variance_train",
                "explained_variance_heldout", "dead_features", "l0_mean", "steps", "epochs", "batch_size", "lr",
                "seed", "seconds", "train_seconds", "input_scale", "aux_k", "aux_coef")
        return {key: getattr(self, key) for key in keys}


def geometric_median(x: np.ndarray, iters: int = 100, tol: float = 1e-6) -> np.ndarray:
    """float64 [d]: the point minimising the sum of Euclidean distances to the rows of x (Weiszfeld's algorithm,
    started at the mean; a row that coincides with the estimate gets a capped weight)."""
    x = np.asarray(x, dtype=np.float64)
    m = x.mean(axis=0)
    scale = max(float(np.sqrt(np.mean(np.sum((x - m) ** 2, axis=1)))), 1e-12)
    for _ in range(iters):
        dist = np.maximum(np.linalg.norm(x - m, axis=1), 1e-8 * scale)
        w = 1.0 / dist
        new = (w[:, None] * x).sum(axis=0) / w.sum()
        if np.linalg.norm(new - m) <= tol * scale:
            return new
        m = new
    return m


def _sparse_encoder():
    """An autograd Function: given pre = x @ W_enc + b_enc computed without grad, the entries pre[b, idx[b, j]]
    with a backward that touches only those entries (n * k of them instead of the dense n x n_features matmul)."""
    import torch

    class SparseEncode(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, W_enc, b_enc, idx, pre):
            ctx.save_for_backward(x, W_enc, idx)
            return pre.gather(1, idx)

        @staticmethod
        def backward(ctx, grad):
            import torch.nn.functional as F

            x, W_enc, idx = ctx.saved_tensors
            n, kk = idx.shape
            m = W_enc.shape[1]
            flat_idx, flat_g = idx.reshape(-1), grad.reshape(-1)
            gx = F.embedding_bag(idx, W_enc.T, per_sample_weights=grad, mode="sum") if ctx.needs_input_grad[0] \
                else None
            rows = torch.arange(n).repeat_interleave(kk)
            st = torch.sparse_coo_tensor(torch.stack([flat_idx, rows]), flat_g, (m, n), check_invariants=False)
            gw = torch.sparse.mm(st, x).T if ctx.needs_input_grad[1] else None
            gb = torch.zeros(m, dtype=grad.dtype).index_add_(0, flat_idx, flat_g) if ctx.needs_input_grad[2] \
                else None
            return gx, gw, gb, None, None

    return SparseEncode


def _count_active(idx, vals, n_features: int):
    import torch

    return torch.bincount(idx[vals > 0], minlength=n_features)


def _density(d: Dictionary, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """(per-feature share of rows with a nonzero activation, mean nonzeros per row) of a sae-topk dictionary."""
    import torch

    counts = torch.zeros(d.n_features, dtype=torch.int64)
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            (vals, idx), _ = d._encode_block(x[s:s + batch_size])
            counts += _count_active(idx, vals, d.n_features)
    c = counts.numpy().astype(np.float64)
    return c / max(len(x), 1), float(c.sum() / max(len(x), 1))


def train_topk_sae(x: np.ndarray, expansion: float = 8, k: int = 32, seed: int = 0, epochs: float = 10.0,
                   steps: int | None = None, batch_size: int = 1024, lr: float | None = None,
                   heldout: float = 0.1, aux_k: int | None = None, aux_coef: float = 1 / 32,
                   dead_after_tokens: int | None = None, n_features: int | None = None, eval_max: int = 100_000,
                   progress: bool = True,
                   desc: str = "dictionary", hook_name: str | None = None, source: str | None = None
                   ) -> tuple[Dictionary, TrainReport]:
    """Train a TopK sparse autoencoder on token activations x (float32 [n_tokens, d_in]); the recipe of Gao et
    al. 2024, "Scaling and evaluating sparse autoencoders".

    - A seeded ``heldout`` share of the tokens is kept out of training for the report's held-out figures.
    - x is scaled by one constant so its mean squared norm is d_in (so lr does not depend on the site's scale);
      the scale is folded back into b_enc and b_dec at the end, so the Dictionary works on raw activations and
      its activations are in the site's units along unit-length decoder rows.
    - b_dec starts at the geometric median of (up to 20,000 of) the training tokens; decoder rows are random
      unit vectors; the encoder starts as the decoder's transpose; b_enc at 0.
    - Forward: pre = (x - b_dec) @ W_enc + b_enc; keep each row's k largest of relu(pre); x_hat = a @ W_dec + b_dec
      (a sparse gather-sum). Loss: ||x - x_hat||^2 over the training set's variance, plus ``aux_coef`` times the
      AuxK loss: the top ``aux_k`` (default d_in // 2) dead latents' reconstruction of the residual. A latent is
      dead when it has not fired for ``dead_after_tokens`` tokens (default: one epoch, at most 10M).
    - Adam (betas 0.9, 0.999), lr default 2e-3 (the short runs a build affords converge faster with it than with
      the paper's 2e-4 / sqrt(n_features / 2**14), which is meant for far longer training), linear warm-up
      over the first 5% of steps and linear decay to 0 over the last 20%; the decoder gradient's component along
      each row is removed before the step and the rows are renormalised to unit length after it.
    - Deterministic for a given seed and torch thread count on CPU (torch's threads are left as they are).

    Training length: ``steps`` if given, else ceil(epochs * n_train / batch_size). Returns (Dictionary, TrainReport).
    Raises ValueError on bad arguments (not 2-D, non-finite, k out of range, too few tokens).
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    started = time.perf_counter()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"x must be [n_tokens, d_in]; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x has non-finite values")
    n, d = x.shape
    m = int(n_features) if n_features is not None else int(round(expansion * d))
    if m < 1 or not 1 <= k <= m:
        raise ValueError(f"need 1 <= k <= n_features; got k={k}, n_features={m}")
    if not 0 < heldout < 1:
        raise ValueError(f"heldout must be in (0, 1); got {heldout}")
    n_held = max(1, int(round(heldout * n)))
    if n - n_held < batch_size or batch_size < 1:
        raise ValueError(f"{n} tokens leave {n - n_held} to train on, fewer than one batch of {batch_size}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    held_idx, train_idx = np.sort(perm[:n_held]), np.sort(perm[n_held:])
    x_train = x[train_idx]
    n_train = len(x_train)

    mean_sq = float(np.mean(np.sum(x_train.astype(np.float64) ** 2, axis=1)))
    s = math.sqrt(d / mean_sq) if mean_sq > 0 else 1.0
    xs = torch.from_numpy(x_train) * s
    centred = xs.double() - xs.double().mean(0)
    var_total = float(centred.pow(2).sum(1).mean())
    del centred
    if not var_total > 0:
        raise ValueError("x has no variance to explain (every token is the same)")
    sample = rng.choice(n_train, size=min(n_train, 20000), replace=False)
    b_dec0 = geometric_median(xs[torch.from_numpy(np.sort(sample))].numpy())

    g = torch.Generator().manual_seed(int(seed))
    W_dec = torch.randn(m, d, generator=g)
    W_dec /= torch.linalg.vector_norm(W_dec, dim=1, keepdim=True)
    W_enc = W_dec.T.clone().contiguous().requires_grad_(True)
    W_dec.requires_grad_(True)
    b_enc = torch.zeros(m, requires_grad=True)
    b_dec = torch.tensor(b_dec0, dtype=torch.float32).requires_grad_(True)
    lr = float(lr) if lr is not None else 2e-3
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr, betas=(0.9, 0.999), eps=6.25e-10)

    per_epoch = math.ceil(n_train / batch_size)
    total = int(steps) if steps is not None else max(1, math.ceil(epochs * per_epoch))
    warm, decay_from = max(1, int(0.05 * total)), int(0.8 * total)

    def lr_at(t: int) -> float:
        f = min(1.0, (t + 1) / warm)
        if t >= decay_from:
            f = min(f, (total - t) / max(1, total - decay_from))
        return f

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    k_aux = int(aux_k) if aux_k is not None else max(1, d // 2)
    dead_window = math.ceil((dead_after_tokens or min(n_train, 10_000_000)) / batch_size)
    last_fired = torch.zeros(m, dtype=torch.int64)
    history = np.empty(total, dtype=np.float32)
    order = torch.randperm(n_train, generator=g)
    pos = 0
    loop_started = time.perf_counter()
    encode_at = _sparse_encoder().apply
    with tqdm(total=total, desc=desc, unit="step", disable=not progress) as bar:
        for step in range(total):
            if pos + batch_size > n_train:
                order, pos = torch.randperm(n_train, generator=g), 0
            xb = xs[order[pos:pos + batch_size]]
            pos += batch_size
            xc = xb - b_dec
            with torch.no_grad():
                pre = torch.addmm(b_enc, xc, W_enc)
                idx = torch.topk(pre, k, dim=1, sorted=False).indices
            vals = encode_at(xc, W_enc, b_enc, idx, pre).relu()
            x_hat = F.embedding_bag(idx, W_dec, per_sample_weights=vals, mode="sum") + b_dec
            err = xb - x_hat
            mse = err.pow(2).sum(1).mean() / var_total
            loss = mse
            with torch.no_grad():
                last_fired[idx[vals > 0]] = step
                dead = (step - last_fired) >= dead_window
                n_dead = int(dead.sum())
            if aux_coef > 0 and n_dead > 0:
                ka = min(k_aux, n_dead)
                ai = torch.topk(pre.masked_fill(~dead, -torch.inf), ka, dim=1, sorted=False).indices
                av = encode_at(xc, W_enc, b_enc, ai, pre).relu()
                e_hat = F.embedding_bag(ai, W_dec, per_sample_weights=av, mode="sum")
                loss = loss + aux_coef * (err.detach() - e_hat).pow(2).sum(1).mean() / var_total
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                gd = W_dec.grad
                gd -= (gd * W_dec).sum(1, keepdim=True) * W_dec
            opt.step()
            sched.step()
            with torch.no_grad():
                W_dec /= torch.linalg.vector_norm(W_dec, dim=1, keepdim=True).clamp_min(1e-12)
            history[step] = mse.item()
            if step % 20 == 0 or step == total - 1:
                bar.set_postfix(fvu=f"{history[step]:.4f}", dead=n_dead, refresh=False)
            bar.update(1)

    train_seconds = time.perf_counter() - loop_started
    with torch.no_grad():
        desc_src = source or (f"TopK SAE trained on {n_train} tokens ({m} features = {m / d:g}x {d}, k={k}, "
                              f"seed={seed}, {total} steps)")
        dic = Dictionary(kind="sae-topk", W_enc=W_enc.detach().numpy(), b_enc=b_enc.detach().numpy() / s,
                         W_dec=W_dec.detach().numpy(), b_dec=b_dec.detach().numpy() / s, k=k, source=desc_src,
                         apply_b_dec_to_input=True, hook_name=hook_name,
                         config={"trained": True, "expansion": m / d, "k": k, "seed": seed, "steps": total,
                                 "batch_size": batch_size, "lr": lr, "heldout": heldout})
    x_held = x[held_idx]
    train_eval = train_idx if n_train <= eval_max else \
        np.sort(rng.choice(train_idx, size=eval_max, replace=False))
    x_eval = x[train_eval]
    density, l0 = _density(dic, x_held, ENCODE_BATCH)
    density_train, _ = _density(dic, x_eval, ENCODE_BATCH)
    report = TrainReport(
        n_train=n_train, n_heldout=n_held, d_in=d, n_features=m, k=k,
        explained_variance_train=dic.explained_variance(x_eval),
        explained_variance_heldout=dic.explained_variance(x_held),
        density=density, density_train=density_train, dead_features=int(np.sum(density == 0)), l0_mean=l0,
        steps=total, epochs=total * batch_size / n_train, batch_size=batch_size, lr=lr, seed=seed,
        seconds=time.perf_counter() - started, train_seconds=train_seconds, input_scale=s, aux_k=k_aux, aux_coef=aux_coef,
        heldout_index=held_idx.astype(np.int64), train_eval_index=train_eval.astype(np.int64),
        fvu_history=history)
    return dic, report
