"""DICOM de-identification: the PS3.15 Basic profile with salted, deterministic UID replacement.

DICOM headers go through the DICOM PS3.15 Annex E Basic Application Level Confidentiality
Profile as tabulated by dicom-anonymizer (table PS315_TABLE, the newest it ships): names, IDs,
dates, times, institution, physicians, free-text descriptions and private tags are removed or
blanked. The package replaces UIDs with random ones per process; here every UID replacement is
deterministic instead, "2.25." + the integer of a name-based UUID (RFC 4122 v5) of the salt and
the original UID, so the same salt maps a UID to the same new UID in every file and every run
(and a different salt to another). Only a whitelist of technical attributes of the de-identified
header is kept (``deidentified_header``). Images flagged BurnedInAnnotation YES are refused:
their pixels would carry PHI that no header profile removes.
"""

from __future__ import annotations

import functools
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from oncoweave.core.errors import InputError
from oncoweave.imaging.image_files import dicom_series_files

if TYPE_CHECKING:  # pydicom is imported where used: the command line starts without it
    import pydicom

logger = logging.getLogger(__name__)

PS315_TABLE = "dicomfields_2026c"  # newest PS3.15 Table E.1-1 transcription in dicom-anonymizer
DEFAULT_SALT = "oncoweave-ps3.15-uid-salt-v1"  # public: set a secret salt for a real cohort

# Technical attributes kept after de-identification. The Basic profile retains all of them
# (Manufacturer/ManufacturerModelName name the vendor, not the site; StationName and
# DeviceSerialNumber, which do identify a site, are removed by the profile and not kept here).
HEADER_WHITELIST = ("Modality", "Manufacturer", "ManufacturerModelName", "SliceThickness",
                    "PixelSpacing", "KVP", "ConvolutionKernel", "RescaleSlope",
                    "RescaleIntercept", "RescaleType", "Units", "SeriesInstanceUID")


def deidentified_uid(uid: str, salt: str) -> str:
    """The replacement of ``uid``: "2.25." + a UUIDv5 of (salt, uid); same salt, same result.

    Registered UIDs (SOP classes, transfer syntaxes) identify no one and are kept.
    """
    from pydicom.uid import UID_dictionary

    uid = str(uid)
    if not uid or uid in UID_dictionary:
        return uid
    # pydicom's generate_uid(prefix=None) ignores entropy_srcs (it returns a random UUID), so
    # the name-based UUID is built here; 2.25.<UUID integer> is the ISO/IEC 9834-8 form.
    namespace = uuid.uuid5(uuid.NAMESPACE_OID, f"oncoweave-deid|{salt}")
    return f"2.25.{uuid.uuid5(namespace, uid).int}"


def deidentify_dataset(ds: pydicom.Dataset, salt: str = DEFAULT_SALT) -> pydicom.Dataset:
    """Apply the PS3.15 Basic profile (PS315_TABLE) to ``ds`` in place and return it.

    Private tags are removed and every UID replacement is ``deidentified_uid``. A dataset
    flagged BurnedInAnnotation YES is refused (InputError): its pixels may show PHI.
    """
    from dicomanonymizer import simpledicomanonymizer as anonymizer

    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        raise InputError("BurnedInAnnotation is YES: the pixel data may show patient details, "
                         "which header de-identification cannot remove; not ingested")
    anonymizer.anonymize_dataset(ds, _salted_rules(salt), delete_private_tags=True,
                                 base_rules_gen=_base_rules)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"PS3.15 Basic Profile ({PS315_TABLE}); salted UIDs"
    return ds


def _base_rules() -> dict:
    # A fresh dict each call: anonymize_dataset updates the one it gets with the extra rules.
    return dict(_profile_rules())


@functools.cache
def _profile_rules() -> dict:
    from dicomanonymizer import simpledicomanonymizer as anonymizer

    return anonymizer.initialize_actions(PS315_TABLE)


@functools.lru_cache(maxsize=8)
def _salted_rules(salt: str) -> dict:
    """Every base rule that may write a UID, redone with deterministic UIDs.

    U and X/Z/U* are the UID actions; D, Z/D, X/D and X/Z/D map to the package's ``replace``,
    which also gives UI elements (and UIDs nested in a replaced sequence) random UIDs.
    """
    from dicomanonymizer import simpledicomanonymizer as anonymizer

    replacing = (anonymizer.replace, anonymizer.empty_or_replace, anonymizer.delete_or_replace,
                 anonymizer.delete_or_empty_or_replace)

    def on_element(handle: Callable[[pydicom.DataElement], None]):
        def action(dataset, tag):
            element = dataset.get(tag)
            if element is not None:
                handle(element)
        return action

    replace_uid = on_element(lambda element: _salt_uids(element, salt))
    # D: the package's dummy of the VR; U*: blank. Both keep (salted) UIDs at any depth.
    replace_salted = on_element(
        lambda element: _salt_nested(element, salt, anonymizer.replace_element))
    delete_or_empty_or_replace_uid = on_element(
        lambda element: _salt_nested(element, salt, anonymizer.empty_element))

    rules = {}
    for tag, action in _base_rules().items():
        if action is anonymizer.replace_UID:
            rules[tag] = replace_uid
        elif action is anonymizer.delete_or_empty_or_replace_UID:
            rules[tag] = delete_or_empty_or_replace_uid
        elif action in replacing:
            rules[tag] = replace_salted
    return rules


def _salt_uids(element: pydicom.DataElement, salt: str) -> None:
    if element.VM > 1:
        element.value = [deidentified_uid(value, salt) for value in element.value]
    elif element.value:
        element.value = deidentified_uid(element.value, salt)


def _salt_nested(element: pydicom.DataElement, salt: str,
                 other: Callable[[pydicom.DataElement], None]) -> None:
    """Salt the UIDs of ``element`` and of sequences in it at any depth; ``other`` gets every
    other element."""
    if element.VR == "UI":
        _salt_uids(element, salt)
    elif element.VR == "SQ":
        for item in element.value:
            for sub_element in item:  # iterating a Dataset converts raw elements
                _salt_nested(sub_element, salt, other)
    else:
        other(element)


def deidentified_header(folder: str | Path, salt: str = DEFAULT_SALT) -> dict:
    """HEADER_WHITELIST of the de-identified series in ``folder`` as JSON-able values.

    Every slice is de-identified (so a BurnedInAnnotation YES on any slice is refused) and must
    map to one new SeriesInstanceUID; values are the first slice's (None where absent).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = Path(folder)
    headers = []
    for path in dicom_series_files(folder):
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as err:
            raise InputError(f"cannot read DICOM header of {path.name} ({err})", path=folder) \
                from None
        try:
            headers.append(deidentify_dataset(dataset, salt))
        except InputError as err:
            raise InputError(f"{path.name}: {err}", path=folder) from None
    logger.debug("%s: %d slice headers de-identified (%s)", folder, len(headers), PS315_TABLE)
    series_uids = {str(header.get("SeriesInstanceUID", "")) for header in headers}
    if len(series_uids) != 1:
        raise InputError(f"slices map to {len(series_uids)} SeriesInstanceUIDs", path=folder)
    return {keyword: _json_value(headers[0].get(keyword)) for keyword in HEADER_WHITELIST}


def _json_value(value):
    import pydicom

    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        return [_json_value(item) for item in value]
    if isinstance(value, (pydicom.valuerep.DSfloat, pydicom.valuerep.DSdecimal, float)):
        return float(value)
    if isinstance(value, (pydicom.valuerep.IS, int)):
        return int(value)
    return str(value)
