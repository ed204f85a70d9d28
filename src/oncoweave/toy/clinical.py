"""The toy cohort's clinical table: cancer type, age, sex, stage and outcomes from a hidden risk.

Every toy patient has ONE hidden risk in [0, 1], ``hidden_risk(patient_number, seed)``. It is the
quantity the later stages must recover: the lesion phantoms show it (``toy.images``) and the
outcome simulation draws from it, together with a TP53 driver and the stage
(``simulate_outcome``). Nothing written states the risk.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from oncoweave.core.io import replaced_on_success
from oncoweave.toy.planting import DRIVERS, GERMLINE_PATHOGENIC, Patient


def hidden_risk(patient_number: int, seed: int) -> float:
    """THE hidden risk of toy patient ``patient_number`` (uniform in [0, 1], seeded).

    Fusion and the outcome simulation must recover this value; it is drawn from its own
    generator stream, so adding patients or changing the phantoms does not change it.
    """
    return float(np.random.default_rng([seed, patient_number]).uniform(0.0, 1.0))


# The tumour type of a toy patient follows its planted driver, so therapy matching has a disease to
# match against; a germline BRCA1/2 carrier is a breast cancer patient.
CANCER_TYPE_OF_DRIVER_GENE = {"EGFR": "Lung Adenocarcinoma", "TP53": "Colorectal Adenocarcinoma",
                              "BRCA1": "Breast Cancer", "BRCA2": "Ovarian Cancer"}
CANCER_TYPES = tuple(sorted(set(CANCER_TYPE_OF_DRIVER_GENE.values())))
CLINICAL_COLUMNS = ["patient", "age", "sex", "stage", "cancer_type", "treatment", "os_months",
                    "os_event", "response"]


def cancer_type(patient_number: int, genes: set[str]) -> str:
    """The cancer type of patient number ``patient_number`` (1-based) with somatic drivers in
    ``genes``: that of its first driver (DRIVERS order), else one by patient number."""
    if patient_number == 1:  # carries GERMLINE_PATHOGENIC
        return CANCER_TYPE_OF_DRIVER_GENE[GERMLINE_PATHOGENIC.gene]
    for planted in DRIVERS:
        if planted.gene in genes:
            return CANCER_TYPE_OF_DRIVER_GENE[planted.gene]
    return CANCER_TYPES[patient_number % len(CANCER_TYPES)]


STAGES = ("I", "II", "III", "IV")
# The toy outcome model (log hazard per month, documented in README "The toy cohort"): the hidden
# risk that the synthetic lesion phantoms show (hidden_risk), a TP53 driver, and stage each raise
# the hazard, so imaging, genomics and clinical data each carry part of it.
BASELINE_HAZARD_PER_MONTH = 1 / 36
WEIBULL_SHAPE = 2.0  # > 1: event times less dispersed than exponential ones
# Each part spreads the log hazard about equally (sd 0.7-0.9), so no modality alone explains it.
LOG_HAZARD_PER_UNIT_RISK = 3.0
LOG_HAZARD_TP53_DRIVER = 1.5
LOG_HAZARD_PER_STAGE = 0.7
CENSORING_MONTHS = (6.0, 60.0)  # administrative censoring, uniform over this follow-up


def simulate_outcome(patient_number: int, tp53: bool, stage: str,
                     seed: int) -> tuple[float, int, str]:
    """(os_months, os_event, RECIST response) of a toy patient, from its hidden risk, a TP53 driver
    and stage (Weibull proportional hazards); responders are PR, the others PD."""
    rng = np.random.default_rng([seed, patient_number, 7])  # apart from the sheet's
    risk = hidden_risk(patient_number, seed)
    log_hazard = (LOG_HAZARD_PER_UNIT_RISK * (risk - 0.5) + LOG_HAZARD_TP53_DRIVER * tp53
                  + LOG_HAZARD_PER_STAGE * (STAGES.index(stage) - 1.5))
    # Cumulative hazard (t / scale)^k x exp(log_hazard) with scale = 1 / baseline hazard.
    event_time = ((rng.exponential() / np.exp(log_hazard)) ** (1 / WEIBULL_SHAPE)
                  / BASELINE_HAZARD_PER_MONTH)
    censor_time = rng.uniform(*CENSORING_MONTHS)
    # Response to first-line treatment falls with the same hidden risk.
    responds = rng.random() < 1 / (1 + np.exp(3.0 * (risk - 0.5) + 0.5 * tp53))
    return (round(float(min(event_time, censor_time)), 1), int(event_time <= censor_time),
            "PR" if responds else "PD")


def write_clinical(path: Path, patients: list[Patient], seed: int) -> None:
    """Age, sex, stage, cancer type and simulated outcomes (simulate_outcome) per patient."""
    rng = np.random.default_rng([seed, len(patients)])
    with replaced_on_success(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(CLINICAL_COLUMNS)
        for number, patient in enumerate(patients, start=1):
            genes = patient.driver_genes()
            # A VCF patient's cancer type is drawn apart from its drivers, so the clinical table
            # carries no proxy of the genomic part of the outcome.
            kind = (str(rng.choice(CANCER_TYPES)) if patient.from_vcf
                    else cancer_type(number, genes))
            sex = ("F" if kind in ("Breast Cancer", "Ovarian Cancer")
                   else str(rng.choice(["F", "M"])))
            age = int(rng.integers(38, 80))
            stage = str(rng.choice(STAGES))
            os_months, os_event, response = simulate_outcome(number, "TP53" in genes, stage, seed)
            writer.writerow([patient.name, age, sex, stage, kind, "", os_months, os_event,
                             response])
