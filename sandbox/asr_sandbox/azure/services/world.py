"""Everything one emulator instance holds, and the services acting on it, in one object the handlers share.

The top of the services layer. The services are handed the estate, clock and settings they work with; because
a reset replaces the estate and a configuration change replaces the settings, both rebind the services too, so
a handler always reaches services that see the current ones.
"""

from __future__ import annotations

from typing import Any

from ..state.recovery import OperationsInFlight
from ..state.seed import build_state
from .clock import EmulatedClock
from .directory import Directory
from .faults import FaultBook, RequestLog
from .scheduler import Scheduler
from .settings import ArmLatency, EmulatorSettings
from .site_recovery import SiteRecoveryService
from .throttle import Throttle
from .tokens import TokenIssuer


class World:
    """The estate (reset to the seed on demand) plus what lives beside it: clock, settings, faults, log, tokens.

    Issued tokens survive a reset so that a test's credential keeps working while the estate starts over. The
    Site Recovery operations still running are indexed beside the estate (and replaced with it), so that settling
    the due ones never walks the estate.
    """

    def __init__(self, seed: dict[str, Any] | None, settings: EmulatorSettings):
        self._seed = seed
        self._initial_settings = settings
        self.settings = settings
        self.clock = EmulatedClock()
        self.tokens = TokenIssuer()
        self.throttle = Throttle(settings)
        self.latency = ArmLatency(settings)
        self.faults = FaultBook()
        self.requests = RequestLog()
        self._new_estate()

    def _new_estate(self) -> None:
        self.state = build_state(self._seed, self.clock.now())
        self.in_flight = OperationsInFlight()
        self._bind_services()

    def _bind_services(self) -> None:
        self.scheduler = Scheduler(self.state, self.clock, self.settings)
        self.site_recovery = SiteRecoveryService(self.state, self.clock, self.settings, self.in_flight)
        self.directory = Directory(self.state, self.clock, self.settings)

    def tick(self) -> None:
        """Let the emulated clock's consequences happen: due mapping operations end (so a schedule one creates
        is there for its first run), then due schedules run and finished jobs end."""
        self.site_recovery.settle()
        self.scheduler.tick()

    def reset(self) -> None:
        """Back to the seed: clock offset 0, start-up settings, no faults, empty request log."""
        self.clock.reset()
        self.settings = self._initial_settings
        self.throttle.configure(self.settings)
        self.latency = ArmLatency(self.settings)
        self.faults.clear()
        self.requests.clear()
        self._new_estate()

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply admin-API setting changes; a new latest agent version makes older agents need an update.

        The latency sequence restarts from its seed, so a test that sets the latency sees the same draws each run.
        """
        updated = self.settings.updated(changes)
        new_release = updated.latest_agent_version != self.settings.latest_agent_version
        self.settings = updated
        self.throttle.configure(updated)
        self.latency = ArmLatency(updated)
        self._bind_services()
        if new_release:
            self.site_recovery.release_agent(updated.latest_agent_version)
