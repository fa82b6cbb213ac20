"""Everything one emulator instance holds, in one object the handlers share."""

from __future__ import annotations

from typing import Any

from .auth import TokenIssuer
from .clock import EmulatedClock
from .faults import FaultBook, RequestLog
from .seed import build_state
from .service import SiteRecoveryService
from .settings import EmulatorSettings
from .throttle import Throttle


class World:
    """The estate (reset to the seed on demand) plus what lives beside it: clock, settings, faults, log, tokens.

    Issued tokens survive a reset so that a test's credential keeps working while the estate starts over.
    """

    def __init__(self, seed: dict[str, Any] | None, settings: EmulatorSettings):
        self._seed = seed
        self._initial_settings = settings
        self.settings = settings
        self.clock = EmulatedClock()
        self.tokens = TokenIssuer()
        self.throttle = Throttle(settings)
        self.faults = FaultBook()
        self.requests = RequestLog()
        self.service = SiteRecoveryService(self)
        self.state = build_state(seed, self.clock.now())

    def reset(self) -> None:
        """Back to the seed: clock offset 0, start-up settings, no faults, empty request log."""
        self.clock.reset()
        self.settings = self._initial_settings
        self.throttle.configure(self.settings)
        self.faults.clear()
        self.requests.clear()
        self.state = build_state(self._seed, self.clock.now())

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply admin-API setting changes; a new latest agent version makes older agents need an update."""
        updated = self.settings.updated(changes)
        new_release = updated.latest_agent_version != self.settings.latest_agent_version
        self.settings = updated
        self.throttle.configure(updated)
        if new_release:
            for vault in self.state.vaults.values():
                for _fabric, _container, item in vault.items():
                    behind = item.details.get("agentVersion") != updated.latest_agent_version
                    item.details["isReplicationAgentUpdateRequired"] = behind
                    item.details["isAgentUpgradeable"] = behind
