"""The Beam phrase pipelines write the phrases file of `sg-keras phrases`, byte for byte."""

import pytest

from sg_keras import corpus, phrases
from sg_keras.errors import UsageError
from test_phrases import collocation_corpus

pytest.importorskip("apache_beam")
from pipelines import beam_phrases  # noqa: E402


def test_two_passes_over_two_files_give_the_local_file(tmp_path):
    collocation_corpus(tmp_path / "a.txt", sentences=600, seed=1)
    collocation_corpus(tmp_path / "b.txt", sentences=600, seed=2)
    paths = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    local = phrases.learn_phrases(corpus.Corpus(paths), "unicode", 3, [10.0, 2.0])
    assert len(local.passes[1].phrases) > 0
    beam_phrases.learn_phrases(paths, str(tmp_path / "beam.tsv"), "unicode", 3, [10.0, 2.0])
    assert (tmp_path / "beam.tsv").read_text(encoding="utf-8") == local.to_tsv()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "beam.tsv"]


def test_bad_settings_are_refused_before_any_pipeline(tmp_path):
    with pytest.raises(UsageError, match="--threshold must be positive"):
        beam_phrases.learn_phrases([str(tmp_path / "missing.txt")], str(tmp_path / "p.tsv"),
                                   thresholds=[0.0])
    with pytest.raises(UsageError, match="corpus file not found"):
        beam_phrases.learn_phrases([str(tmp_path / "missing.txt")], str(tmp_path / "p.tsv"))
    assert not list(tmp_path.iterdir())
