"""Paths as outputs record them: relative to the working directory, or to the checkout."""

from __future__ import annotations

from oncoweave.core.paths import REPO_ROOT, recorded_path


def test_paths_inside_the_working_directory_or_the_checkout_are_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    assert recorded_path("results/drivers/model") == "results/drivers/model"
    assert recorded_path(tmp_path / "results" / "x.fa") == "results/x.fa"
    shipped = REPO_ROOT / "resources" / "models" / "driver"
    assert recorded_path(shipped) == "<oncoweave>/resources/models/driver"
    assert recorded_path("/elsewhere/genome.fa") == "/elsewhere/genome.fa"


def test_a_link_inside_the_working_directory_is_not_followed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "genome.fa").symlink_to(REPO_ROOT / "README.md")
    assert recorded_path("genome.fa") == "genome.fa"
