"""The region table: every region resolves to a real zone, names are normalised."""

import zoneinfo

import pytest

from asr_autoupdate.api.regions import REGION_TIME_ZONES, normalize_region, region_time_zone


@pytest.mark.parametrize("region", sorted(REGION_TIME_ZONES))
def test_every_region_has_a_real_time_zone(region):
    assert zoneinfo.ZoneInfo(REGION_TIME_ZONES[region])
    assert region == normalize_region(region), "table keys are stored normalised"


@pytest.mark.parametrize(
    "region, zone",
    [
        pytest.param("westeurope", "Europe/Amsterdam", id="westeurope"),
        pytest.param("West Europe", "Europe/Amsterdam", id="display-name"),
        pytest.param("  NorthEurope ", "Europe/Dublin", id="case-and-space"),
        pytest.param("eastus", "America/New_York", id="eastus"),
        pytest.param("westus", "America/Los_Angeles", id="westus"),
        pytest.param("centralindia", "Asia/Kolkata", id="centralindia"),
        pytest.param("Southeast Asia", "Asia/Singapore", id="southeastasia"),
        pytest.param("australiaeast", "Australia/Sydney", id="australiaeast"),
        pytest.param("brazilsouth", "America/Sao_Paulo", id="brazilsouth"),
        pytest.param("newzealandnorth", "Pacific/Auckland", id="newzealandnorth"),
        pytest.param("chilecentral", "America/Santiago", id="chilecentral"),
        pytest.param("moon", None, id="unknown-region"),
        pytest.param("europe", None, id="geography-is-not-a-region"),
    ],
)
def test_lookup(region, zone):
    assert region_time_zone(region) == zone


def test_table_covers_the_public_regions():
    expected = {
        "westeurope",
        "northeurope",
        "eastus",
        "eastus2",
        "westus",
        "westus2",
        "westus3",
        "centralus",
        "northcentralus",
        "southcentralus",
        "westcentralus",
        "canadacentral",
        "canadaeast",
        "brazilsouth",
        "brazilsoutheast",
        "mexicocentral",
        "chilecentral",
        "uksouth",
        "ukwest",
        "francecentral",
        "francesouth",
        "germanywestcentral",
        "germanynorth",
        "switzerlandnorth",
        "switzerlandwest",
        "norwayeast",
        "norwaywest",
        "swedencentral",
        "polandcentral",
        "italynorth",
        "spaincentral",
        "eastasia",
        "southeastasia",
        "japaneast",
        "japanwest",
        "koreacentral",
        "koreasouth",
        "centralindia",
        "southindia",
        "westindia",
        "australiaeast",
        "australiasoutheast",
        "australiacentral",
        "australiacentral2",
        "newzealandnorth",
        "indonesiacentral",
        "malaysiawest",
        "uaenorth",
        "uaecentral",
        "qatarcentral",
        "israelcentral",
        "southafricanorth",
        "southafricawest",
    }
    assert expected <= REGION_TIME_ZONES.keys()
    assert len(REGION_TIME_ZONES) >= 60
