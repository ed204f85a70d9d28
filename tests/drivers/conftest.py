"""The driver tests' shared fixture: the bundled driver knowledge (hotspots, domains, homologs)."""

import pytest

from oncoweave.drivers.features import DriverKnowledge


@pytest.fixture(scope="module")
def knowledge():
    return DriverKnowledge.load()
