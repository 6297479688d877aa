"""The embedded demo corpora: real text from PyPI packages' data, fetched and hash-checked by ``fetch``.

- VADER (vaderSentiment 3.3.2 sdist, Hutto & Gilbert 2014): four domains of snippets, each with the mean
  of about 20 human ratings on a -4..+4 scale: movie reviews (the MR sentences), Amazon product reviews,
  NYT editorials and tweets.
- gensim 4.3.3 test data: a shortened English Wikipedia dump and the Lee news corpus (Lee et al. 2005),
  both documents, split into sentences with spaCy's trained sentence segmenter.
"""
from __future__ import annotations

import bz2
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from pipeline.corpora import fetch
from pipeline.errors import PipelineError

VADER_FILES = {
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"

DEMO_CORPORA = {
    "movies": ("score", "Movie-review snippets (Rotten Tomatoes), mean human sentiment -4..+4"),
    "amazon": ("score", "Amazon product-review snippets, mean human sentiment -4..+4"),
    "nyt": ("score", "New York Times editorial snippets, mean human sentiment -4..+4"),
    "tweets": ("score", "Tweets, mean human sentiment -4..+4"),
    "wiki": ("none", "English Wikipedia articles (gensim's shortened dump), split into sentences"),
    "news": ("none", "Lee news corpus (Australian news, gensim test data), split into sentences"),
}
# What `--preset demo` builds: all six, the movie snippets (10,605) and Wikipedia capped (a seeded sample of 5,000
# and the first 3,000 sentences) so no domain dwarfs the others (amazon 3,708, nyt 5,190, tweets 4,200, news
# 2,188), and the demo warehouse stays under 500 MB: MiniLM's residual run alone took 342 MB at 28,891 sentences
# (bench_footprint on a partial build, benchmarks/METHODS.md).
DEMO_LIMITS = {"movies": 5000, "wiki": 3000}
# Capped corpora taken as a seeded random sample rather than their first rows: the movie snippets file lists
# its positive snippets first (its first 5,000 are 97% positive, the whole set is half and half).
DEMO_SAMPLED = {"movies"}


def _decode_line(raw: bytes) -> str:
    # The VADER files are mostly UTF-8 with a few Windows-1252 lines; decode line by line.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def load_vader(domain: str, cache=None) -> pd.DataFrame:
    path = fetch.vader_dir(cache) / VADER_FILES[domain]
    texts, scores, lines = [], [], []
    for i, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        line = _decode_line(raw.rstrip(b"\r")).lstrip("\ufeff")
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise PipelineError(f"{path} line {i}: expected id, score, text separated by tabs")
        texts.append(parts[2].strip())
        scores.append(float(parts[1]))
        lines.append(i)
    return pd.DataFrame({"text": texts, "label": scores, "_line": lines})


# Disambiguation pages are lists of links, not prose.
_DISAMBIGUATION = re.compile(r"\{\{\s*(disambig|dab|hndis|geodis|surname|given name)", re.I)
_REF = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_BAD_SENTENCE = re.compile(r"[|{}\[\]<>=]|^\W|https?:")


def _keep_sentence(s: str) -> bool:
    words = s.split()
    return 4 <= len(words) <= 80 and not _BAD_SENTENCE.search(s) and any(c.islower() for c in s)


def wiki_paragraphs(path: Path) -> list[str]:
    """Plain-text paragraphs of the article pages (namespace 0, no redirects) of a MediaWiki XML dump."""
    import mwparserfromhell

    paragraphs = []
    with bz2.open(path, "rb") as f:
        for _, elem in ET.iterparse(f, events=("end",)):
            if not elem.tag.endswith("}page"):
                continue
            ns = elem.find("{*}ns")
            text = elem.find("{*}revision/{*}text")
            if ns is not None and ns.text == "0" and text is not None and text.text \
                    and elem.find("{*}redirect") is None and not _DISAMBIGUATION.search(text.text):
                # Footnotes would run into the sentence they annotate; drop them before stripping markup.
                body = _REF.sub(" ", text.text)
                plain = mwparserfromhell.parse(body).strip_code(normalize=True, collapse=True)
                for para in re.split(r"\n\s*\n", plain):
                    para = " ".join(para.split())
                    # Lists, tables and captions survive strip_code as short fragments; keep prose.
                    if len(para) > 80 and para[0] not in "*#:;!|{":
                        paragraphs.append(para)
            elem.clear()
    return paragraphs


def _sentences(paragraphs: list[str], progress: bool, enough: int | None = None) -> list[str]:
    """Segment paragraphs in order; stop once ``enough`` sentences are kept (segmenting is the slow part)."""
    from pipeline.corpora.segment import split_sentences

    out: list[str] = []
    step = 200 if enough else max(len(paragraphs), 1)
    for start in range(0, len(paragraphs), step):
        for para in split_sentences(paragraphs[start:start + step], progress=progress and not enough):
            out.extend(s.strip() for s in para if _keep_sentence(s.strip()))
        if enough and len(out) >= enough:
            return out[:enough]
    return out


def load_wiki(cache=None, progress: bool = False, enough: int | None = None) -> pd.DataFrame:
    sents = _sentences(wiki_paragraphs(fetch.gensim_test_data(cache) / WIKI_FILE), progress, enough)
    return pd.DataFrame({"text": sents, "_line": range(1, len(sents) + 1)})


def load_news(cache=None, progress: bool = False) -> pd.DataFrame:
    path = fetch.gensim_test_data(cache) / LEE_FILE
    docs = [d.strip() for d in path.read_text(encoding="utf-8", errors="replace").splitlines() if d.strip()]
    sents = _sentences(docs, progress)
    return pd.DataFrame({"text": sents, "_line": range(1, len(sents) + 1)})


def load_demo(key: str, cache=None, progress: bool = False, enough: int | None = None) -> pd.DataFrame:
    """``enough``: the caller needs only the first that many rows (lets long documents stop early)."""
    if key in VADER_FILES:
        return load_vader(key, cache)
    if key == "wiki":
        return load_wiki(cache, progress, enough)
    if key == "news":
        return load_news(cache, progress)
    raise PipelineError(f"demo corpus {key!r} is unknown (known: {', '.join(DEMO_CORPORA)})")
