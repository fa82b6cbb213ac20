"""The MobilityUpdatePolicy API: its names, its spec, its conditions and the table of reasons.

Every name here is part of the user-facing contract (the CRD, kubectl, GitOps tools read them), so the rest of
the operator takes them from this one place.
"""

GROUP = "asr.autoupdate.dev"
VERSION = "v1alpha1"
KIND = "MobilityUpdatePolicy"
PLURAL = "mobilityupdatepolicies"
FINALIZER = f"{GROUP}/cleanup"
REPAIR_ANNOTATION = f"{GROUP}/repair"

# Azure tag names may not contain '/', so the tag that marks accounts a policy created is not the
# Kubernetes-style `asr.autoupdate.dev/policy`; its value is `<namespace>/<name>` (values may hold '/').
POLICY_TAG = f"{GROUP}-policy"
