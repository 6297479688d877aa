"""Named presets for the research data sets kept in ``../shared/data`` (see its README.md).

The folder is read in place, never copied into the project; it exists on developer machines and in CI
only, so ``research_root()`` returns None when it is absent (set ``ILLUSION_RESEARCH_DATA`` to use
another location). Every preset gives the same five columns:

    text        str             the sentence (or the first sentence of a pair)
    text_b      str or None     the second sentence of a pair
    label       float or NaN    see the preset's label_kind and the notes below
    label_text  str or None     the label's name, where it has one
    split       str or None     train / dev / test as published; None where the set has no splits

Files are left exactly as published; each loader copes with the quirks (documented where handled).
Label conventions, all as numbers in ``label``:

    stsb           score 0-5 (mean human similarity)
    sst2, mr, cr   1 positive, 0 negative; cr: NaN for "neutral" (no opinion tag) and "mixed" (tags sum
                   to 0)
    qnli           1 entailment, 0 not_entailment (as for sentiment: 1 = the "yes" class)
    snli           0 entailment, 1 neutral, 2 contradiction (the MNLI/GLUE order)
    trec           index of the coarse class in sorted order: 0 ABBR, 1 DESC, 2 ENTY, 3 HUM, 4 LOC, 5 NUM
    advglue-*      the numbers in the file, which follow GLUE (Hugging Face ``glue``): note that
                   advglue-qnli and advglue-rte use 0 entailment, 1 not_entailment, the reverse of
                   the ``qnli`` preset; label_text names them, so compare label_text across presets.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from pipeline.errors import PipelineError

ENV_VAR = "ILLUSION_RESEARCH_DATA"
COLUMNS = ("text", "text_b", "label", "label_text", "split")
NAN = math.nan


def research_root() -> Path | None:
    """$ILLUSION_RESEARCH_DATA if set, else <repo>/../shared/data; None if that folder does not exist."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parent.parent.parent  # parent of the ``pipeline`` package
        path = repo.parent / "shared" / "data"
    return path if path.is_dir() else None


# --------------------------------------------------------------------------------------------------
# Reading helpers


def _raw(path: Path) -> bytes:
    if not path.is_file():
        raise PipelineError(f"{path}: file not found (the research data folder is incomplete)")
    return path.read_bytes()


def _decode(path: Path, raw: bytes, encoding: str = "utf-8") -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise PipelineError(f"{path} line {line}: byte 0x{raw[e.start]:02x} at column {col} "
                            f"is not valid {encoding}") from None


def _lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, without line endings (\\n or \\r\\n); no final empty line."""
    text = _decode(path, _raw(path))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _frame(text, text_b=None, label=None, label_text=None, split=None) -> pd.DataFrame:
    n = len(text)

    def col(values, default):
        return [default] * n if values is None else (
            list(values) if not isinstance(values, str) else [values] * n)

    # object dtype keeps None as None (pandas 3 would otherwise infer ``str`` and turn None into NaN).
    return pd.DataFrame({
        "text": pd.Series(list(text), dtype=object),
        "text_b": pd.Series(col(text_b, None), dtype=object),
        "label": pd.Series(col(label, NAN), dtype="float64"),
        "label_text": pd.Series(col(label_text, None), dtype=object),
        "split": pd.Series(col(split, None), dtype=object),
    })


def _need_text(path: Path, line: int, *texts: str) -> None:
    if any(not t for t in texts):
        raise PipelineError(f"{path} line {line}: empty text")


# --------------------------------------------------------------------------------------------------
# STS Benchmark


def _stsb_file(path: Path, split: str) -> pd.DataFrame:
    # Tab-separated despite the .csv suffix, no header. Quoting must be off: sentences contain
    # unbalanced double quotes, and with CSV quoting a quote would swallow the following rows.
    # About 500 rows (197 train, 22 dev, 284 test) carry 2 extra trailing fields with licence/source
    # notes ("Europe Media Monitor ...", "StackExchange Network ..."): keep the first 7 fields.
    # Found beyond the README: sts-train.csv has Windows (\r\n) line endings, the others \n (the csv
    # module with newline="" handles both); ~300 sentences have leading/trailing spaces (stripped).
    text = _decode(path, _raw(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    s1, s2, scores = [], [], []
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) < 7:
            raise PipelineError(f"{path} line {line}: expected 7 tab-separated fields (genre, file, "
                                f"year, id, score, sentence1, sentence2), found {len(row)}")
        row = row[:7]
        try:
            score = float(row[4])
        except ValueError:
            raise PipelineError(f"{path} line {line}: score {row[4]!r} is not a number") from None
        if not 0.0 <= score <= 5.0:
            raise PipelineError(f"{path} line {line}: score {score} is outside 0-5")
        a, b = row[5].strip(), row[6].strip()
        _need_text(path, line, a, b)
        s1.append(a)
        s2.append(b)
        scores.append(score)
    return _frame(s1, s2, scores, None, split)


def load_stsb(folder: Path) -> pd.DataFrame:
    return pd.concat([_stsb_file(folder / f"sts-{s}.csv", s) for s in ("train", "dev", "test")],
                     ignore_index=True)


# --------------------------------------------------------------------------------------------------
# SST-2 (binary, sentence level)

_SENTIMENT = {0: "negative", 1: "positive"}


def _sst2_file(path: Path, split: str) -> pd.DataFrame:
    # A real CSV (header label,sentence; sentences with commas are double-quoted): default quoting.
    text = _decode(path, _raw(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["label", "sentence"]:
        raise PipelineError(f"{path} line 1: expected the header 'label,sentence'")
    texts, labels = [], []
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != 2 or row[0].strip() not in ("0", "1"):
                raise PipelineError(f"{path} line {line}: expected 'label,sentence' with label 0 or 1")
            sentence = row[1].strip()
            _need_text(path, line, sentence)
            texts.append(sentence)
            labels.append(int(row[0]))
    except csv.Error as e:
        raise PipelineError(f"{path} line {reader.line_num}: {e}") from None
    return _frame(texts, None, labels, [_SENTIMENT[v] for v in labels], split)


def load_sst2(folder: Path) -> pd.DataFrame:
    return pd.concat([_sst2_file(folder / f"{s}_binary_sent.csv", s) for s in ("train", "dev", "test")],
                     ignore_index=True)


# --------------------------------------------------------------------------------------------------
# MR (rt-polarity)

# C1 control characters (U+0080-U+009F) standing for the Windows-1252 punctuation they were meant to be.
_C1_TO_CP1252 = {}
for _b in range(0x80, 0xA0):
    try:
        _C1_TO_CP1252[_b] = bytes([_b]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined in cp1252: leave them
        pass


def _mr_decode(path: Path) -> list[str]:
    # Encoding. The original rt-polarity files are Windows-1252 (famously not UTF-8). This copy was
    # re-encoded: its README says "some characters have been converted from ISO-8859-1 to UTF-8" (and
    # NEL, 0x85, replaced by a space), and the files are valid UTF-8 (é, ó, ã, ½, ... decode right).
    # But that conversion treated the bytes as ISO-8859-1, so the cp1252 punctuation 0x91/0x96/0x97
    # became the C1 control characters U+0091/U+0096/U+0097 (34 en dashes, 20 em dashes, 6 opening
    # quotes). We decode UTF-8, falling back to cp1252 for an unconverted original, and map C1
    # controls through cp1252: U+0096 -> "–", U+0097 -> "—", U+0091 -> "‘".
    raw = _raw(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    text = text.translate(_C1_TO_CP1252)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


def load_mr(folder: Path) -> pd.DataFrame:
    # One lower-cased, tokenised snippet per line; the label is the file name. Lines end in a space
    # (stripped). No splits are published.
    texts, labels = [], []
    for suffix, label in (("pos", 1), ("neg", 0)):
        path = folder / f"rt-polarity.{suffix}"
        for i, line in enumerate(_mr_decode(path), start=1):
            line = line.strip()
            _need_text(path, i, line)
            texts.append(line)
            labels.append(label)
    return _frame(texts, None, labels, [_SENTIMENT[v] for v in labels], None)


# --------------------------------------------------------------------------------------------------
# CR (Hu & Liu 2004, 5 products)

# An opinion tag in the part before "##": [+2], [-1], also the malformed forms found in the files:
# "[+]" (no strength: counts 1), "[+1}" (wrong closing bracket), "[-3[p]" (missing "]"), "[2]" (no
# sign: counts as positive; its line has another [+2] anyway). Markers [u], [p], [s], [cc], [cs] and
# [t] carry no polarity and do not match.
_CR_TAG = re.compile(r"\[\s*([+-]?)\s*(\d*)\s*(?=[\]}\[,]|$)")
# A sentence line whose "##" lost one "#": "run[+3], dvd media[+2]#apex ad-2600 runs all ..."
_CR_SINGLE_HASH = re.compile(r"^([^#]*\[\s*[+-]?\d*\s*[\]}][^#]*)#(?!#)(.*)$")


def _cr_polarity(head: str) -> float | None:
    """Sum of the opinion tags in a line's annotation part, or None if it has none."""
    total, found = 0, False
    for sign, digits in _CR_TAG.findall(head):
        if not sign and not digits:
            continue  # "[" of a marker such as [u]
        found = True
        total += (-1 if sign == "-" else 1) * (int(digits) if digits else 1)
    return total if found else None


CR_FILES_EXCLUDED = ("README.txt",)


def load_cr(folder: Path) -> pd.DataFrame:
    # Line format "feature[+2],other[-1]##sentence". Lines without "##" are review titles ("[t]...";
    # one is written "***[t]great phone ..."), the "*" banner at the top of each file, or blank:
    # skipped ("* sigh ." after "##" is a real sentence). The README's figures (3,944 sentences, 1,728
    # with opinion tags) count lines containing "##". One more sentence line (Apex ... DVD player.txt
    # line 485) lost a "#" ("dvd media[+2]#apex ad-2600 ..."); we keep it, so this loader gives 3,945
    # sentences, 1,729 with tags. Any other line shape is an error, not silently dropped.
    # Labels: sign of the sum of the [+n]/[-n] tags: 1 positive, 0 negative. Sentences with no tag
    # (including "feature##..." lines naming a feature without a polarity) are kept with label NaN and
    # label_text "neutral"; the 8 with tags summing to 0 ("screen[+2],switch[-2]") get NaN and "mixed".
    files = sorted(p for p in folder.glob("*.txt") if p.name not in CR_FILES_EXCLUDED)
    if not files:
        raise PipelineError(f"{folder}: no product review files (*.txt) found")
    texts, labels, names = [], [], []
    for path in files:  # one file per product; "Apex_AD2600_Progressive_scan_DVD player.txt" has a space
        for i, line in enumerate(_lines(path), start=1):
            stripped = line.strip()
            if "##" in line:
                head, _, sentence = line.partition("##")
            elif not stripped or stripped.startswith("[t]") or stripped.startswith("*"):
                continue
            else:
                m = _CR_SINGLE_HASH.match(line)
                if m is None:
                    raise PipelineError(f"{path} line {i}: expected 'tags##sentence', a '[t]' title or "
                                        f"a '*' header line")
                head, sentence = m.group(1), m.group(2)
            sentence = sentence.strip()
            _need_text(path, i, sentence)
            total = _cr_polarity(head)
            if total is None:
                label, name = NAN, "neutral"
            elif total == 0:
                label, name = NAN, "mixed"
            else:
                label, name = (1.0, "positive") if total > 0 else (0.0, "negative")
            texts.append(sentence)
            labels.append(label)
            names.append(name)
    return _frame(texts, None, labels, names, None)


# --------------------------------------------------------------------------------------------------
# QNLI dev

_QNLI = {"entailment": 1, "not_entailment": 0}


def load_qnli(folder: Path) -> pd.DataFrame:
    # TSV with header index/question/sentence/label. Quoting must be off: 14 sentences start with an
    # unbalanced '"', and CSV quoting would merge the rows after them (5,398 rows instead of 5,463).
    path = folder / "dev.tsv"
    text = _decode(path, _raw(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["index", "question", "sentence", "label"]:
        raise PipelineError(f"{path} line 1: expected the header index, question, sentence, label")
    qs, ss, labels, names = [], [], [], []
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != 4:
            raise PipelineError(f"{path} line {line}: expected 4 tab-separated fields, found {len(row)}")
        name = row[3].strip()
        if name not in _QNLI:
            raise PipelineError(f"{path} line {line}: label {name!r} is not entailment or not_entailment")
        q, s = row[1].strip(), row[2].strip()
        _need_text(path, line, q, s)
        qs.append(q)
        ss.append(s)
        labels.append(_QNLI[name])
        names.append(name)
    return _frame(qs, ss, labels, names, "dev")


# --------------------------------------------------------------------------------------------------
# SNLI dev

NLI_CLASSES = ("entailment", "neutral", "contradiction")  # label = index (as in MNLI / GLUE)


def load_snli(folder: Path) -> pd.DataFrame:
    # Three parallel files, one item per line, every line ending in a space (stripped).
    paths = [folder / n for n in ("s1.dev", "s2.dev", "labels.dev")]
    s1, s2, lab = (_lines(p) for p in paths)
    if not len(s1) == len(s2) == len(lab):
        raise PipelineError(f"{folder}: s1.dev, s2.dev and labels.dev should have the same number of "
                            f"lines, found {len(s1)}, {len(s2)}, {len(lab)}")
    texts, texts_b, labels, names = [], [], [], []
    for i, (a, b, name) in enumerate(zip(s1, s2, lab), start=1):
        a, b, name = a.strip(), b.strip(), name.strip()
        if not a:
            raise PipelineError(f"{paths[0]} line {i}: empty text")
        if not b:
            raise PipelineError(f"{paths[1]} line {i}: empty text")
        if name not in NLI_CLASSES:
            raise PipelineError(f"{paths[2]} line {i}: label {name!r} is not one of "
                                f"{', '.join(NLI_CLASSES)}")
        texts.append(a)
        texts_b.append(b)
        labels.append(NLI_CLASSES.index(name))
        names.append(name)
    return _frame(texts, texts_b, labels, names, "dev")


# --------------------------------------------------------------------------------------------------
# WikiText-2 test

_HEADING = re.compile(r"(=+) .* \1")  # " = Title = ", " = = Section = = ", after strip()
_WIKITEXT_JOINS = re.compile(r" @([-,.])@ ")  # "guest @-@ starring", "1 @,@ 000", "3 @.@ 5"


def wikitext_paragraphs(path: Path) -> list[str]:
    """The paragraphs of a WikiText file: no blank or heading lines, "@-@"-style joins undone."""
    paragraphs = []
    for line in _lines(path):
        line = line.strip()
        # A heading is "= ... =" with the same number of "=" on both sides. Two body lines of a table
        # legend start with "=" but do not end with it (" = National record "): kept as text.
        if not line or _HEADING.fullmatch(line):
            continue
        paragraphs.append(_WIKITEXT_JOINS.sub(r"\1", line))
    return paragraphs


def load_wikitext2(folder: Path) -> pd.DataFrame:
    # Paragraphs split into sentences with spaCy's trained segmenter (see pipeline.corpora.segment).
    # The text stays tokenised otherwise ("actor , television ."), and "<unk>" (the WikiText
    # vocabulary's out-of-vocabulary marker, ~15,000 of them) is kept as is: the original word is lost.
    from pipeline.corpora.segment import split_sentences

    sentences = [s for para in split_sentences(wikitext_paragraphs(folder / "test.txt")) for s in para]
    return _frame(sentences, None, None, None, "test")


# --------------------------------------------------------------------------------------------------
# TREC question classification

TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")  # sorted; label = index
_TREC_LINE = re.compile(r"([A-Z]+):(\S+) (.+)")


def _trec_file(path: Path, split: str) -> pd.DataFrame:
    # "COARSE:fine question text", one per line. Encoding: ASCII, except one stray byte 0xF0 in
    # train.txt line 66 ("sister\xf0city", not valid UTF-8, "ð" in Latin-1): a word separator gone
    # wrong. Lines that are not valid UTF-8 get such bytes replaced by a space ("sister city"), as
    # the Hugging Face ``trec`` loader does. The fine class is not kept.
    raw = _raw(path)
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts, labels, names = [], [], []
    for i, raw_line in enumerate(lines, start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            line = raw_line.decode("utf-8", errors="replace").replace("\ufffd", " ")
        line = " ".join(line.split())
        m = _TREC_LINE.fullmatch(line)
        if m is None or m.group(1) not in TREC_CLASSES:
            raise PipelineError(f"{path} line {i}: expected 'COARSE:fine question' with COARSE one of "
                                f"{', '.join(TREC_CLASSES)}")
        texts.append(m.group(3))
        labels.append(TREC_CLASSES.index(m.group(1)))
        names.append(m.group(1))
    return _frame(texts, None, labels, names, split)


def load_trec(folder: Path) -> pd.DataFrame:
    return pd.concat([_trec_file(folder / f"{s}.txt", s) for s in ("train", "test")], ignore_index=True)


# --------------------------------------------------------------------------------------------------
# AdvGLUE dev

# task -> (first text field, second text field or None, label names by number). The numbers are the
# GLUE ones (Hugging Face ``glue`` ClassLabel order), checked on the data: rte idx 0 and qnli idx 0
# and 3 are entailed and 0; mnli idx 0 ("so little landfill" / "plenty of space") is 2, contradiction.
ADVGLUE_TASKS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "sst2": ("sentence", None, ("negative", "positive")),
    "qqp": ("question1", "question2", ("not_duplicate", "duplicate")),
    "mnli": ("premise", "hypothesis", ("entailment", "neutral", "contradiction")),
    "mnli-mm": ("premise", "hypothesis", ("entailment", "neutral", "contradiction")),
    "qnli": ("question", "sentence", ("entailment", "not_entailment")),
    "rte": ("sentence1", "sentence2", ("entailment", "not_entailment")),
}


def load_advglue(folder: Path, task: str) -> pd.DataFrame:
    # A JSON object: task -> list of records {idx, <text fields>, label, data_construction, method,
    # and for perturbed items original_<field>}. We keep the adversarial (perturbed) text; texts have
    # stray leading/trailing spaces (stripped).
    path = folder / "dev_ann.json"
    try:
        data = json.loads(_decode(path, _raw(path)))
    except json.JSONDecodeError as e:
        raise PipelineError(f"{path} line {e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get(task), list):
        raise PipelineError(f"{path}: expected a JSON object with a list of records for task {task!r}")
    key_a, key_b, names = ADVGLUE_TASKS[task]
    texts, texts_b, labels = [], [], []
    for n, rec in enumerate(data[task]):
        where = f"{path}: {task} record {n}"
        try:
            a = str(rec[key_a]).strip()
            b = str(rec[key_b]).strip() if key_b else None
            label = rec["label"]
        except (KeyError, TypeError):
            raise PipelineError(f"{where}: expected fields {key_a}"
                                f"{', ' + key_b if key_b else ''}, label") from None
        if not isinstance(label, int) or not 0 <= label < len(names):
            raise PipelineError(f"{where}: label {label!r} is not 0..{len(names) - 1}")
        if not a or (key_b and not b):
            raise PipelineError(f"{where}: empty text")
        texts.append(a)
        texts_b.append(b)
        labels.append(label)
    return _frame(texts, texts_b if key_b else None, labels, [names[v] for v in labels], "dev")


# --------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Preset:
    name: str
    folder: str  # under the research root
    description: str
    label_kind: str  # "binary", "class", "score" or "none"
    pairs: bool  # text_b is filled
    loader: Callable[[Path], pd.DataFrame]  # the preset folder -> all rows, all splits


def _advglue_preset(task: str, description: str) -> Preset:
    kind = "class" if len(ADVGLUE_TASKS[task][2]) > 2 else "binary"
    return Preset(f"advglue-{task}", "advglue", description, kind, ADVGLUE_TASKS[task][1] is not None,
                  lambda folder: load_advglue(folder, task))


def _one_side(loader: Callable[[Path], pd.DataFrame], side: str) -> Callable[[Path], pd.DataFrame]:
    """Single sentences from one side of a pair set (e.g. QNLI's questions or its Wikipedia sentences), as the
    interpretability-illusion study uses them: each distinct sentence once, first occurrence kept; the pair
    label does not belong to one side, so there is none."""
    def load(folder: Path) -> pd.DataFrame:
        df = loader(folder)
        out = pd.DataFrame({"text": df[side].astype(str).str.strip(), "split": df["split"]})
        out = out[out["text"] != ""].drop_duplicates("text").reset_index(drop=True)
        return out.assign(text_b=None, label=float("nan"), label_text=None)[list(COLUMNS)]
    return load


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("stsb", "stsb", "STS Benchmark sentence pairs, human similarity 0-5 (train/dev/test)",
           "score", True, load_stsb),
    Preset("sst2", "sst2", "SST-2 movie-review sentences, 1 positive / 0 negative (train/dev/test)",
           "binary", False, load_sst2),
    Preset("mr", "mr", "MR (rt-polarity) movie-review snippets, 1 positive / 0 negative",
           "binary", False, load_mr),
    Preset("cr", "cr", "CR customer-review sentences (5 products), 1 positive / 0 negative, "
           "NaN neutral or mixed", "binary", False, load_cr),
    Preset("qnli", "qnli", "QNLI dev: question / Wikipedia sentence, 1 entailment / 0 not_entailment",
           "binary", True, load_qnli),
    Preset("snli", "snli", "SNLI dev: premise / hypothesis, 0 entailment / 1 neutral / 2 contradiction",
           "class", True, load_snli),
    Preset("wikitext2", "wikitext2", "WikiText-2 test: Wikipedia article sentences, no label",
           "none", False, load_wikitext2),
    Preset("trec", "trec", "TREC questions, coarse class 0-5 (ABBR DESC ENTY HUM LOC NUM; train/test)",
           "class", False, load_trec),
    Preset("qnli-questions", "qnli", "QNLI dev questions, each distinct question once, no label", "none", False,
           _one_side(load_qnli, "text")),
    Preset("qnli-sentences", "qnli", "QNLI dev Wikipedia sentences, each distinct sentence once, no label", "none",
           False, _one_side(load_qnli, "text_b")),
    Preset("snli-premises", "snli", "SNLI dev premises (image captions), each distinct premise once, no label",
           "none", False, _one_side(load_snli, "text")),
    Preset("stsb-sentences", "stsb", "STS-B first sentences of every pair, each distinct sentence once, no label",
           "none", False, _one_side(load_stsb, "text")),
    _advglue_preset("sst2", "AdvGLUE dev SST-2: adversarial sentences, 1 positive / 0 negative"),
    _advglue_preset("qqp", "AdvGLUE dev QQP: question pairs, 1 duplicate / 0 not_duplicate"),
    _advglue_preset("mnli", "AdvGLUE dev MNLI (matched): 0 entailment / 1 neutral / 2 contradiction"),
    _advglue_preset("mnli-mm", "AdvGLUE dev MNLI (mismatched): 0 entailment / 1 neutral / "
                    "2 contradiction"),
    _advglue_preset("qnli", "AdvGLUE dev QNLI: question / sentence, 0 entailment / 1 not_entailment"),
    _advglue_preset("rte", "AdvGLUE dev RTE: sentence pairs, 0 entailment / 1 not_entailment"),
)}


def _missing_root() -> PipelineError:
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return PipelineError(f"the research data folder is not present: {ENV_VAR}={env} is not a folder")
    return PipelineError(f"the research data folder is not present (looked for ../shared/data next to "
                         f"the project; set {ENV_VAR} to its location)")


def load_preset(name: str, root: Path | None = None, split: str | None = None) -> pd.DataFrame:
    """One research data set as text, text_b, label, label_text, split (optionally one split only)."""
    preset = PRESETS.get(name)
    if preset is None:
        raise PipelineError(f"research preset {name!r} is unknown (known: {', '.join(PRESETS)})")
    if root is None:
        root = research_root()
        if root is None:
            raise _missing_root()
    root = Path(root)
    if not root.is_dir():
        raise PipelineError(f"the research data folder {root} is not present (set {ENV_VAR} to its "
                            f"location)")
    folder = root / preset.folder
    if not folder.is_dir():
        raise PipelineError(f"{folder}: folder not found in the research data folder {root} "
                            f"(set {ENV_VAR} to the folder holding {preset.folder}/)")
    df = preset.loader(folder)
    if split is not None:
        known = [s for s in dict.fromkeys(df["split"]) if s is not None]
        if split not in known:
            raise PipelineError(f"research preset {name!r} has no split {split!r} "
                                f"({'splits: ' + ', '.join(known) if known else 'it has no splits'})")
        df = df[df["split"] == split].reset_index(drop=True)
    return df[list(COLUMNS)]
