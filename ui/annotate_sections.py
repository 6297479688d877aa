"""The blind-annotation results' merge section (views/annotate.py draws the rest)."""
from __future__ import annotations

import streamlit as st

import annotations as store
from analysis.annotation import pattern_counts
from ui import url
from ui.tables import table


def merge_patterns(t, a, match, path) -> None:
    """The manual merge table: every canonical pattern, merge one into another, undo a merge."""
    with st.expander("Merge patterns that mean the same (the paper's manual grouping)"):
        counts = pattern_counts(t, a, match)
        table(counts, "annotation_patterns", key="ann_patterns")
        names = counts["pattern"].tolist()
        if len(names) >= 2:
            c1, c2, c3 = st.columns([3, 3, 1])
            src = c1.selectbox("Merge", names, key="ann_merge_src")
            dst = c2.selectbox("into", [n for n in names if n != src], key="ann_merge_dst")
            if c3.button("Merge", key="ann_merge_go"):
                try:
                    store.add_merge(src, dst, url.get("annotator"), path)
                    st.rerun()
                except ValueError as e:
                    st.error(str(e))
        merged = store.merges(path)
        if merged:
            st.caption("Manual merges (stored in the annotation file):")
            gone = st.selectbox("Undo the merge of", list(merged), key="ann_unmerge",
                                format_func=lambda p: f"{p} → {merged[p]}")
            if st.button("Undo", key="ann_unmerge_go"):
                store.remove_merge(gone, path)
                st.rerun()
