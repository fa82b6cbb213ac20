"""A minimal kopf operator for Widgets (widget_crd.yaml), run by the tests as `kopf run` against the emulator.

It covers what a real operator does to the API: a finalizer (because there is a delete handler), status written
through the status subresource, Events, an update handler for spec changes, and cleanup on deletion.
"""

import logging

import kopf

FINALIZER = "example.dev/widget-cleanup"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.INFO
    # The emulator answers immediately; short backoffs keep the tests fast when a watch is cut (410 Gone).
    settings.networking.error_backoffs = [0.2, 0.5, 1.0]
    settings.watching.reconnect_backoff = 0.2


def _reconcile(body, spec, patch, reason: str) -> None:
    size = spec["size"]
    patch.status["observedSize"] = size
    patch.status["observedGeneration"] = body["metadata"]["generation"]
    patch.status["conditions"] = [{
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": f"size={size}",
        "observedGeneration": body["metadata"]["generation"],
    }]
    kopf.info(body, reason=reason, message=f"size={size}")


@kopf.on.create("example.dev", "v1", "widgets")
def created(body, spec, patch, **_):
    _reconcile(body, spec, patch, "ReconciledCreate")


@kopf.on.update("example.dev", "v1", "widgets", field="spec")
def updated(body, spec, patch, **_):
    _reconcile(body, spec, patch, "ReconciledUpdate")


@kopf.on.delete("example.dev", "v1", "widgets")
def deleted(name, logger, **_):
    logger.info(f"cleanup of {name} done")
