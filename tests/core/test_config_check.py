"""The config schema's lists of settings keys, and the one line a config error becomes."""

import dataclasses

import jsonschema
import pytest
import yaml
from helpers import REPO

from oncoweave.core.config_check import config_error_line

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def settings_classes():
    from oncoweave.fusion.evaluation import EvaluationSettings
    from oncoweave.fusion.net_settings import FusionNetSettings
    from oncoweave.imaging.encoder_inputs import EncoderSettings
    from oncoweave.imaging.lesion_crops import ClassifierSettings
    from oncoweave.imaging.segmenter import SegmenterSettings
    from oncoweave.variants.classify import CallingThresholds

    return {("calling", "thresholds"): CallingThresholds, ("imaging", "encoder"): EncoderSettings,
            ("imaging", "classifier"): ClassifierSettings,
            ("imaging", "segmenter"): SegmenterSettings,
            ("fusion", "network"): FusionNetSettings, ("fusion", "evaluation"): EvaluationSettings}


@pytest.mark.parametrize("section, key", list(settings_classes()))
def test_schema_lists_exactly_the_settings_fields(section, key):
    """A field added to (or renamed in) a settings dataclass must be added to the schema too."""
    allowed = SCHEMA["properties"][section]["properties"][key]["propertyNames"]["enum"]
    fields = [field.name for field in dataclasses.fields(settings_classes()[section, key])]
    assert allowed == fields


def first_error(config):
    return next(jsonschema.Draft202012Validator(SCHEMA).iter_errors(config))


@pytest.mark.parametrize("config, expected", [
    ({"samples": "s.tsv", "calling": {"thresholds": {"min_vaff": 0.1}}},
     "config key calling.thresholds: unknown key 'min_vaff' (allowed: min_tumour_depth, "
     "min_normal_depth, min_alt_reads, min_vaf, max_normal_vaf, germline_min_vaf, "
     "somatic_pvalue, loh_min_vaf, loh_pvalue, strand_bias_pvalue, min_strand_fraction, "
     "report_min_alt_reads, report_min_vaf)"),
    ({"samples": "s.tsv", "fusion": {"network": {"epoch": 3}}},
     "config key fusion.network: unknown key 'epoch' (allowed: seed, hidden_dim, embedding_dim, "
     "dropout, modality_dropout, fusion, epochs, batch_size, learning_rate, weight_decay, "
     "response_weight, validation_fraction, patience, log_every, torch_threads)"),
    ({"samples": "s.tsv", "identity": {"min_dept": 3}},
     "config key identity: unknown key 'min_dept' (allowed: min_depth, min_sites, "
     "min_concordance)"),
    ({"samples": "s.tsv", "tmb": {"min_depth": "many"}},
     "config key tmb.min_depth: 'many' is not of type 'integer'"),
    ({"images": ""}, "config: 'samples' is a required property"),
])
def test_config_error_line(config, expected):
    assert config_error_line(first_error(config)) == expected
