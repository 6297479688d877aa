"""The anisotropy page's data: the stored per-layer, per-word and per-context tables of one run."""
from __future__ import annotations

from analysis.anisotropy import context_overlap
from ui.db import connection
from warehouse import queries


def layers(run_id: str):
    return queries.anisotropy_layers(connection(), run_id)


def word_list(run_id: str):
    return queries.anisotropy_word_list(connection(), run_id)


def word(run_id: str, word: str):
    return queries.anisotropy_word(connection(), run_id, word)


def word_contexts(run_id: str, word: str, sample: str):
    return queries.anisotropy_word_contexts(connection(), run_id, word, sample)


def static_across(run_id: str, sample: str, k: int):
    return queries.anisotropy_static_across(connection(), run_id, sample, k)


def static_words(run_id: str, layer: int, sample: str, k: int, by: str):
    return queries.anisotropy_static_words(connection(), run_id, layer, sample, k, by)


def contextual_words(run_id: str, layer: int, sample: str, k: int):
    return queries.anisotropy_contextual_words(connection(), run_id, layer, sample, k)


def overlaps(run_id: str, sample: str, words: list[str]):
    """context_overlap of each word's stored contexts in ``sample``."""
    return context_overlap(queries.anisotropy_contexts_of_words(connection(), run_id, sample, words))


def compare():
    return queries.anisotropy_compare(connection())
