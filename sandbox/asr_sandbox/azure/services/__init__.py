"""What Azure does over the estate on its own: Site Recovery's auto-update, Automation's scheduler and jobs,
the emulated clock, identities and role assignments, throttling, injected faults and issued tokens.

The middle layer: it works on `state` and never imports the HTTP layer; it refuses with `state.errors`.
"""
