"""An HTTPS emulator of Azure Resource Manager, its token authority and Site Recovery's auto-update behaviour."""

from .server import AzureEmulator
from .settings import EmulatorSettings

__all__ = ["AzureEmulator", "EmulatorSettings"]
