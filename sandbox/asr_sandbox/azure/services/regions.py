"""Which wall clock an Azure region keeps: Site Recovery's default update schedule runs at 00:00 local time."""

from __future__ import annotations

REGION_TIME_ZONES = {
    "westeurope": "Europe/Amsterdam",
    "northeurope": "Europe/Dublin",
    "uksouth": "Europe/London",
    "ukwest": "Europe/London",
    "francecentral": "Europe/Paris",
    "germanywestcentral": "Europe/Berlin",
    "swedencentral": "Europe/Stockholm",
    "switzerlandnorth": "Europe/Zurich",
    "eastus": "America/New_York",
    "eastus2": "America/New_York",
    "centralus": "America/Chicago",
    "southcentralus": "America/Chicago",
    "westus": "America/Los_Angeles",
    "westus2": "America/Los_Angeles",
    "westus3": "America/Phoenix",
    "canadacentral": "America/Toronto",
    "brazilsouth": "America/Sao_Paulo",
    "southeastasia": "Asia/Singapore",
    "eastasia": "Asia/Hong_Kong",
    "japaneast": "Asia/Tokyo",
    "koreacentral": "Asia/Seoul",
    "centralindia": "Asia/Kolkata",
    "australiaeast": "Australia/Sydney",
    "uaenorth": "Asia/Dubai",
    "southafricanorth": "Africa/Johannesburg",
}


def time_zone_of(location: str) -> str:
    """The IANA zone for a region name in any spelling ("West Europe", "westeurope"); UTC when unknown."""
    return REGION_TIME_ZONES.get(location.replace(" ", "").lower(), "UTC")
