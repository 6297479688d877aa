"""Decoder extraction: our DecoderRunner vs a plain ``model(**batch, output_hidden_states=True)`` loop.

    python -m benchmarks.bench_decoder [--n 2000] [--repeat 1] [--threads 1] [--batch 32] [--max-length 128]

The model has GPT-2-small's shape (12 blocks, width 768, MLP 3072, 12 heads), random weights (seed 0), saved with
``save_pretrained`` to a temporary folder and loaded from there like a user's folder. GPT-2's own vocabulary
cannot be downloaded here, so the tokenizer is a byte-level BPE (8,192 entries, GPT-2 style: an eos token, no pad
token, nothing added) trained on the benchmark's sentences. The sentences are the first n/4 of each of four
demo corpora (movies, amazon, nyt, tweets; ``python -m pipeline fetch`` fills the cache).

Timings (median over --repeat, model already loaded, each method warmed up on a few texts first):

- plain loop                 batches of --batch in input order, tokenizer pads per batch (pad = eos),
                             ``model(**batch, output_hidden_states=True)``; nothing pooled, nothing kept
- plain loop, length-sorted  the same with the batches sorted by token length (the baseline's best case)
- ours, residual only        DecoderRunner(mlp=False).encode: 13 residual sites x (last, mean, max), float32
                             on the CPU, original order
- ours, residual + MLP       DecoderRunner.encode: the above and 12 MLP sites (3,072 neurons each) x 3 poolings
- ours + storing residual    the previous row, then ``write_extraction`` of every residual block (activations and
                             neuron top-k) into a fresh DuckDB warehouse file

The ratio is the plain loop's time over ours: >= 1.0 means ours is at least as fast. Wall time and this process's
CPU time are both shown: on a shared machine the CPU time (with --threads 1) moves less with the other load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CORPORA = ("movies", "amazon", "nyt", "tweets")


def demo_texts(n: int) -> list[str]:
    from pipeline.corpora.demo import load_demo

    per, extra = divmod(n, len(CORPORA))
    texts: list[str] = []
    for i, key in enumerate(CORPORA):
        texts += load_demo(key)["text"].astype(str).tolist()[:per + (i < extra)]
    return texts


def gpt2_small_folder(texts: list[str], folder: Path) -> None:
    """A random GPT-2-small-shaped LM and a BPE tokenizer trained on ``texts``, saved like a checkpoint."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=True)
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8192, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=3072,
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(cfg).eval().save_pretrained(str(folder))
    tok.save_pretrained(str(folder))


class PlainLoop:
    """What a user would write: AutoModel, pad = eos, batches in the given (or length-sorted) order."""

    def __init__(self, folder: Path, batch: int, max_length: int):
        from transformers import AutoModel, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(folder))
        self.tok.pad_token = self.tok.eos_token
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self.batch, self.max_length = batch, max_length

    def run(self, texts: list[str], sort: bool = False) -> None:
        import torch

        if sort:
            lengths = [len(x) for x in self.tok(texts)["input_ids"]]
            texts = [texts[i] for i in sorted(range(len(texts)), key=lambda i: -lengths[i])]
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch):
                batch = self.tok(texts[start:start + self.batch], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
                self.model(**batch, output_hidden_states=True)


def store(runner, enc, path: Path) -> None:
    import warehouse
    from pipeline.stages.extract import write_extraction

    con = warehouse.connect_for_writing(path)
    try:
        warehouse.create_schema(con)
        write_extraction(con, runner, "bench", enc, k=20)
    finally:
        con.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="sentences in total, n/4 from each demo corpus")
    ap.add_argument("--repeat", type=int, default=1, help="repeats per method; the median is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the machine may be shared)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args(argv)

    import torch
    import transformers

    from pipeline.config import ModelSpec
    from pipeline.models.decoder import DecoderRunner

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    print(f"load average at start {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}; "
          f"torch {torch.__version__}, transformers {transformers.__version__}")
    texts = demo_texts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "gpt2-small-random"
        gpt2_small_folder(texts, folder)
        spec = ModelSpec("gpt2", "decoder", str(folder), max_length=args.max_length, batch_size=args.batch,
                         device="cpu", dtype="float32")
        plain = PlainLoop(folder, args.batch, args.max_length)
        ours = DecoderRunner(spec)
        resid = DecoderRunner(spec, mlp=False)
        n_tok = sum(min(len(x), args.max_length) for x in ours.tokenizer(texts)["input_ids"])
        print(f"{len(texts)} sentences, {n_tok} tokens (mean {n_tok / len(texts):.1f}); "
              f"{ours.n_layers} residual sites x {ours.hidden_size}, {len(ours.sites)} MLP sites x "
              f"{next(iter(ours.sites.values()))}; batch {args.batch}, max_length {args.max_length}")
        for warm in (lambda t: plain.run(t), ours.encode, resid.encode):
            warm(texts[:8])

        methods = {
            "plain loop": lambda r: plain.run(texts),
            "plain loop, length-sorted": lambda r: plain.run(texts, sort=True),
            "ours, residual only": lambda r: resid.encode(texts),
            "ours, residual + MLP": lambda r: ours.encode(texts),
            "ours + storing residual": lambda r: store(ours, ours.encode(texts), Path(tmp) / f"w{r}.duckdb"),
        }
        wall: dict[str, list[float]] = {k: [] for k in methods}
        cpu: dict[str, list[float]] = {k: [] for k in methods}
        for r in range(args.repeat):  # methods interleaved, so a change in the machine's load hits them all
            for name, fn in methods.items():
                t0, c0 = time.perf_counter(), time.process_time()
                fn(r)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"\n{'method':30s} {'wall s':>8s} {'sent/s':>8s} {'plain/this':>11s} {'CPU s':>8s} {'plain/this':>11s}")
    for name in methods:
        print(f"{name:30s} {w[name]:8.2f} {len(texts) / w[name]:8.1f} {w['plain loop'] / w[name]:10.2f}x "
              f"{c[name]:8.2f} {c['plain loop'] / c[name]:10.2f}x")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
