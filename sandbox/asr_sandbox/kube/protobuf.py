"""Just enough Kubernetes protobuf to accept kubectl's typed `create` commands.

`kubectl create namespace|configmap|secret|serviceaccount` encode their body as
`application/vnd.kubernetes.protobuf` (a `k8s\\0` magic, then a `runtime.Unknown` envelope around the typed
message) and do not fall back to JSON. This decodes those four kinds' fields (ObjectMeta's name, generateName,
namespace, labels, annotations, ownerReferences, finalizers; the kinds' data) into the JSON form the rest of the
emulator stores. Anything else is a 415 that names the supported media types.
"""

from __future__ import annotations

import base64
from typing import Callable

from .errors import ApiError, bad_request

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

Fields = dict[int, list]


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def parse(data: bytes) -> Fields:
    """Wire-format fields by number: ints for varints, bytes for length-delimited, raw bytes for fixed."""
    fields: Fields = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 1:
            value, position = data[position:position + 8], position + 8
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire_type == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def _string(fields: Fields, number: int) -> str | None:
    """gogo-protobuf writes optional strings even when empty; empty means unset in Kubernetes' JSON too."""
    values = fields.get(number)
    return values[-1].decode() or None if values else None


def _strings(fields: Fields, number: int) -> list[str]:
    return [v.decode() for v in fields.get(number, [])]


def _bool(fields: Fields, number: int) -> bool | None:
    values = fields.get(number)
    return bool(values[-1]) if values else None


def _map(fields: Fields, number: int, *, binary: bool = False) -> dict[str, str] | None:
    if number not in fields:
        return None
    result = {}
    for entry in fields[number]:
        pair = parse(entry)
        key = _string(pair, 1) or ""
        raw = pair.get(2, [b""])[-1]
        result[key] = base64.b64encode(raw).decode() if binary else raw.decode()
    return result


def _object_meta(data: bytes) -> dict:
    fields = parse(data)
    metadata: dict = {}
    for number, name in ((1, "name"), (2, "generateName"), (3, "namespace")):
        if (value := _string(fields, number)) is not None:
            metadata[name] = value
    for number, name in ((11, "labels"), (12, "annotations")):
        if (value := _map(fields, number)) is not None:
            metadata[name] = value
    if 13 in fields:
        references = []
        for raw in fields[13]:
            reference = parse(raw)
            entry = {"apiVersion": _string(reference, 5), "kind": _string(reference, 1),
                     "name": _string(reference, 3), "uid": _string(reference, 4)}
            for number, name in ((6, "controller"), (7, "blockOwnerDeletion")):
                if (flag := _bool(reference, number)) is not None:
                    entry[name] = flag
            references.append(entry)
        metadata["ownerReferences"] = references
    if 14 in fields:
        metadata["finalizers"] = _strings(fields, 14)
    return metadata


def _namespace(fields: Fields) -> dict:
    return {}


def _config_map(fields: Fields) -> dict:
    obj: dict = {}
    if (data := _map(fields, 2)) is not None:
        obj["data"] = data
    if (binary := _map(fields, 3, binary=True)) is not None:
        obj["binaryData"] = binary
    if (immutable := _bool(fields, 4)) is not None:
        obj["immutable"] = immutable
    return obj


def _secret(fields: Fields) -> dict:
    obj: dict = {}
    if (data := _map(fields, 2, binary=True)) is not None:
        obj["data"] = data
    if (kind := _string(fields, 3)) is not None:
        obj["type"] = kind
    if (string_data := _map(fields, 4)) is not None:
        obj["stringData"] = string_data
    if (immutable := _bool(fields, 5)) is not None:
        obj["immutable"] = immutable
    return obj


def _service_account(fields: Fields) -> dict:
    obj: dict = {}
    if 3 in fields:
        obj["imagePullSecrets"] = [{"name": _string(parse(raw), 1)} for raw in fields[3]]
    if (automount := _bool(fields, 4)) is not None:
        obj["automountServiceAccountToken"] = automount
    return obj


_KINDS: dict[str, Callable[[Fields], dict]] = {
    "Namespace": _namespace,
    "ConfigMap": _config_map,
    "Secret": _secret,
    "ServiceAccount": _service_account,
}


def decode(raw: bytes, accepted: list[str]) -> dict:
    if not raw.startswith(_MAGIC):
        raise bad_request("the protobuf body does not start with the Kubernetes magic number")
    try:
        envelope = parse(raw[len(_MAGIC):])
        type_meta = parse(envelope.get(1, [b""])[-1])
        api_version, kind = _string(type_meta, 1) or "", _string(type_meta, 2) or ""
        decoder = _KINDS.get(kind)
        if decoder is None or api_version != "v1":
            raise ApiError(415, "UnsupportedMediaType",
                           f"the emulator decodes protobuf only for v1 {', '.join(_KINDS)}; send {kind or 'this object'} "
                           "as JSON (kubectl apply -f) - accepted media types include: " + ", ".join(accepted))
        fields = parse(envelope.get(2, [b""])[-1])
        obj = {"apiVersion": api_version, "kind": kind,
               "metadata": _object_meta(fields[1][-1]) if 1 in fields else {}}
        obj.update(decoder(fields))
        return obj
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise bad_request(f"unable to decode the protobuf body: {e}") from None
