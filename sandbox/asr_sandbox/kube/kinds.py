"""The few per-kind rules of built-in types that clients notice; everything else is stored as sent.

Secrets turn `stringData` into base64 `data` (and reject data that is not base64, at decode time, as a 400),
Namespaces get their `kubernetes` finalizer and phase, Services a cluster IP, CRDs their defaults, validation
and status. Immutable Secrets and ConfigMaps keep their data.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import itertools

from . import crd as crds
from .errors import FieldError, bad_request, invalid
from .resources import ResourceType
from .validation import check_crd

_cluster_ips = itertools.count(10)


def prepare_create(resource_type: ResourceType, obj: dict) -> None:
    """Fill in what the apiserver's strategy for this kind fills in on create; raise for undecodable bodies."""
    handler = _CREATE.get((resource_type.group, resource_type.plural))
    if handler:
        handler(resource_type, obj)


def prepare_update(resource_type: ResourceType, obj: dict, old: dict, subresource: str | None = None) -> None:
    if subresource == "finalize":
        return
    handler = _UPDATE.get((resource_type.group, resource_type.plural))
    if handler:
        handler(resource_type, obj, old)


# -- Secrets and ConfigMaps -------------------------------------------------------------------------------------


def _secret_create(resource_type: ResourceType, obj: dict) -> None:
    _decode_secret(resource_type, obj)
    obj.setdefault("type", "Opaque")


def _secret_update(resource_type: ResourceType, obj: dict, old: dict) -> None:
    _decode_secret(resource_type, obj)
    obj.setdefault("type", old.get("type", "Opaque"))
    name = obj["metadata"]["name"]
    errors = []
    if obj.get("type") != old.get("type"):
        errors.append(FieldError("FieldValueInvalid", "type", obj.get("type"), "field is immutable"))
    errors.extend(_immutable_data_errors(obj, old, ("data",)))
    if errors:
        raise invalid("Secret", "", name, errors)


def _decode_secret(resource_type: ResourceType, obj: dict) -> None:
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal data')
    for key, value in data.items():
        if not isinstance(value, str):
            raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                              f'{type(value).__name__} into Go struct field Secret.data of type []uint8')
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            position = _first_bad_base64_byte(value)
            raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input '
                              f'byte {position}') from None
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = dict(data)
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    if data or "data" in obj:
        obj["data"] = data


def _first_bad_base64_byte(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for index, char in enumerate(value):
        if char == "=":
            return index if len(value) % 4 else len(value)
        if char not in alphabet:
            return index
    return len(value) - len(value) % 4


def _configmap_update(resource_type: ResourceType, obj: dict, old: dict) -> None:
    errors = _immutable_data_errors(obj, old, ("data", "binaryData"))
    if errors:
        raise invalid("ConfigMap", "", obj["metadata"]["name"], errors)


def _immutable_data_errors(obj: dict, old: dict, fields: tuple[str, ...]) -> list[FieldError]:
    if not old.get("immutable"):
        return []
    errors = []
    for field in fields:
        if obj.get(field) != old.get(field):
            errors.append(FieldError("FieldValueForbidden", field, detail="field is immutable when `immutable` is set"))
    if obj.get("immutable") is not True:
        errors.append(FieldError("FieldValueForbidden", "immutable", detail="field is immutable when `immutable` is set"))
    return errors


# -- Namespaces, Services, Deployments -------------------------------------------------------------------------


def _namespace_create(resource_type: ResourceType, obj: dict) -> None:
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _namespace_update(resource_type: ResourceType, obj: dict, old: dict) -> None:
    obj["spec"] = copy.deepcopy(old.get("spec") or {})
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _service_create(resource_type: ResourceType, obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        number = next(_cluster_ips)
        spec["clusterIP"] = f"10.96.{number // 250}.{number % 250 + 1}"
    if spec.get("clusterIP"):
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _service_update(resource_type: ResourceType, obj: dict, old: dict) -> None:
    spec = obj.setdefault("spec", {})
    old_spec = old.get("spec") or {}
    if not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _deployment_create(resource_type: ResourceType, obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})


# -- Events -------------------------------------------------------------------------------------------------------


def _event_times(resource_type: ResourceType, obj: dict, old: dict | None = None) -> None:
    """metav1.Time keeps seconds, MicroTime microseconds, both in UTC with a Z (kopf sends isoformat())."""
    for field, micro in (("firstTimestamp", False), ("lastTimestamp", False), ("eventTime", True)):
        if field in obj:
            obj[field] = _normalize_time(obj[field], micro=micro)


def _normalize_time(value, *, micro: bool):
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


# -- CustomResourceDefinitions ---------------------------------------------------------------------------------


def _crd_create(resource_type: ResourceType, obj: dict) -> None:
    crds.fill_defaults(obj)
    errors = check_crd(obj)
    if errors:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", obj["metadata"].get("name", ""), errors)
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if crds.CLEANUP_FINALIZER not in finalizers:
        finalizers.append(crds.CLEANUP_FINALIZER)
    obj["status"] = crds.established_status(obj, None)


def _crd_update(resource_type: ResourceType, obj: dict, old: dict) -> None:
    crds.fill_defaults(obj)
    errors = check_crd(obj)
    for field in ("group", "scope"):
        if (obj.get("spec") or {}).get(field) != old["spec"].get(field):
            errors.append(FieldError("FieldValueInvalid", f"spec.{field}", (obj.get("spec") or {}).get(field),
                                     "field is immutable"))
    if errors:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", obj["metadata"].get("name", ""), errors)
    obj["status"] = crds.established_status(obj, obj.get("status") or old.get("status"))


_CREATE = {
    ("", "secrets"): _secret_create,
    ("", "namespaces"): _namespace_create,
    ("", "events"): _event_times,
    ("", "services"): _service_create,
    ("apps", "deployments"): _deployment_create,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crd_create,
}
_UPDATE = {
    ("", "secrets"): _secret_update,
    ("", "configmaps"): _configmap_update,
    ("", "events"): _event_times,
    ("", "namespaces"): _namespace_update,
    ("", "services"): _service_update,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crd_update,
}
