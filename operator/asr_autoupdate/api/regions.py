"""Azure public regions and the IANA time zone of the place each one stands in.

Site Recovery schedules its update runbook for midnight "in the time zone of the replicated VM's geography",
and a policy without `schedule.timeZone` follows the same idea: each mapping's source region (where its VMs run,
usually not the vault's DR region) decides the zone of that mapping's schedule. ARM spells
a region both ways ("West Europe" in some answers, "westeurope" in others), so lookups normalise first.

Only physical regions are listed (the canary `euap` regions included, the logical `*stage` and geography
names such as `europe` not): a vault lives in a physical region. A region missing here is not an error by
itself; the policy then has to name its `schedule.timeZone`.
"""

from __future__ import annotations

REGION_TIME_ZONES: dict[str, str] = {
    # Americas
    "eastus": "America/New_York",
    "eastus2": "America/New_York",
    "eastus2euap": "America/New_York",
    "centralus": "America/Chicago",
    "centraluseuap": "America/Chicago",
    "northcentralus": "America/Chicago",
    "southcentralus": "America/Chicago",
    "westcentralus": "America/Denver",
    "westus": "America/Los_Angeles",
    "westus2": "America/Los_Angeles",
    "westus3": "America/Phoenix",
    "canadacentral": "America/Toronto",
    "canadaeast": "America/Toronto",
    "mexicocentral": "America/Mexico_City",
    "brazilsouth": "America/Sao_Paulo",
    "brazilsoutheast": "America/Sao_Paulo",
    "chilecentral": "America/Santiago",
    # Europe
    "northeurope": "Europe/Dublin",
    "westeurope": "Europe/Amsterdam",
    "uksouth": "Europe/London",
    "ukwest": "Europe/London",
    "francecentral": "Europe/Paris",
    "francesouth": "Europe/Paris",
    "germanywestcentral": "Europe/Berlin",
    "germanynorth": "Europe/Berlin",
    "switzerlandnorth": "Europe/Zurich",
    "switzerlandwest": "Europe/Zurich",
    "norwayeast": "Europe/Oslo",
    "norwaywest": "Europe/Oslo",
    "swedencentral": "Europe/Stockholm",
    "swedensouth": "Europe/Stockholm",
    "polandcentral": "Europe/Warsaw",
    "italynorth": "Europe/Rome",
    "spaincentral": "Europe/Madrid",
    "belgiumcentral": "Europe/Brussels",
    # Asia Pacific
    "eastasia": "Asia/Hong_Kong",
    "southeastasia": "Asia/Singapore",
    "japaneast": "Asia/Tokyo",
    "japanwest": "Asia/Tokyo",
    "koreacentral": "Asia/Seoul",
    "koreasouth": "Asia/Seoul",
    "centralindia": "Asia/Kolkata",
    "southindia": "Asia/Kolkata",
    "westindia": "Asia/Kolkata",
    "jioindiacentral": "Asia/Kolkata",
    "jioindiawest": "Asia/Kolkata",
    "australiaeast": "Australia/Sydney",
    "australiasoutheast": "Australia/Melbourne",
    "australiacentral": "Australia/Sydney",
    "australiacentral2": "Australia/Sydney",
    "newzealandnorth": "Pacific/Auckland",
    "indonesiacentral": "Asia/Jakarta",
    "malaysiawest": "Asia/Kuala_Lumpur",
    "taiwannorth": "Asia/Taipei",
    "taiwannorthwest": "Asia/Taipei",
    # Middle East and Africa
    "uaenorth": "Asia/Dubai",
    "uaecentral": "Asia/Dubai",
    "qatarcentral": "Asia/Qatar",
    "israelcentral": "Asia/Jerusalem",
    "israelnorthwest": "Asia/Jerusalem",
    "southafricanorth": "Africa/Johannesburg",
    "southafricawest": "Africa/Johannesburg",
}


def normalize_region(region: str) -> str:
    """ARM writes a region as a display name or as a name; both mean the same place ("West Europe" == "westeurope")."""
    return "".join(region.split()).lower()


def region_time_zone(region: str) -> str | None:
    """The IANA zone a schedule defaults to for a vault in `region`; None when the region is not known here."""
    return REGION_TIME_ZONES.get(normalize_region(region))
