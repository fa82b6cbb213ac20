"""The emulator on the wire: aiohttp routes for ARM's resource providers, the Entra ID token endpoints and the
`/_sandbox` admin API.

The top layer: handlers read requests, call the estate and the services, and turn `state.errors` refusals into
ARM error answers. Nothing below imports from here.
"""
