"""The emulated estate as plain data: what Azure holds, with lookups that answer the way ARM does.

The bottom layer: it imports nothing else from the emulator, knows nothing of HTTP, and refuses with the
errors of `state.errors` (Azure's codes and messages); the HTTP layer turns those into status codes.
"""
