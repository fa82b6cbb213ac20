"""An HTTPS emulator of Azure Resource Manager, its token authority and Site Recovery's auto-update behaviour.

Three layers, each importing only those below it: `state` (the estate as plain data), `services` (what Azure
does over it on its own) and `http` (ARM, Entra ID and the admin API on the wire).
"""

from .http.server import AzureEmulator
from .services.settings import EmulatorSettings

__all__ = ["AzureEmulator", "EmulatorSettings"]
