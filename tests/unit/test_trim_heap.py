"""After a large document a worker child empties the Arabic per-word caches and returns
freed heap to the OS (services.worker.lifecycle.trim_heap)."""

from services.nlp import arabic
from services.worker.lifecycle import trim_heap


def test_trim_heap_empties_the_arabic_word_caches_and_changes_no_feature():
    words = ["زار", "بومبيو", "بغداد", "والعراق", "."]
    before = arabic.crf_features(words)
    assert arabic._own_feats.cache_info().currsize > 0
    assert arabic.feature_form.cache_info().currsize > 0
    trim_heap()
    for cached in (arabic.feature_form, arabic.feature_stem, arabic._word_feats, arabic._own_feats, arabic._neighbour_feats):
        assert cached.cache_info().currsize == 0
    assert arabic.crf_features(words) == before
