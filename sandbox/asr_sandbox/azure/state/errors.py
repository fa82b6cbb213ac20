"""Refusals in Azure's own words (its error codes and messages), without HTTP.

The estate and the services raise these; the HTTP layer alone decides which status each kind of refusal
answers with, so a lookup deep in the store never has to know it is being served over ARM.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Azure refused: `code` and `message` exactly as the service words them."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(ServiceError):
    """Something addressed does not exist (ARM answers 404)."""


class InvalidInput(ServiceError):
    """The caller sent something the service will not take (ARM answers 400)."""


class Conflict(ServiceError):
    """The request clashes with what already exists (ARM answers 409)."""


class Throttled(ServiceError):
    """Too many requests: try again after `retry_after` seconds (ARM answers 429 with Retry-After)."""

    def __init__(self, code: str, message: str, *, retry_after: int):
        super().__init__(code, message)
        self.retry_after = retry_after


def resource_not_found(resource_type_and_name: str, resource_group: str) -> NotFound:
    """ARM's own refusal for a resource under an existing resource group, worded as the service words it."""
    return NotFound(
        "ResourceNotFound",
        f"The Resource '{resource_type_and_name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )
