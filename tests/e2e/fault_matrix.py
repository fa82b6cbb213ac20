"""The Azure fault matrix (issue 12): every Azure operation the operator makes × every fault the emulator can
inject, generated from the two tables below. A new operation joins the matrix by one line in OPERATIONS.

Each cell, on a vault of its own (`rsv-mx-NN`, seeded for it, two A2A mappings):

1. the fault is posted (admin `POST /_sandbox/faults`), its pathPattern confined to the cell's vault, account or
   (for vault discovery) to the only caller of that path, and a token fault by `clientId` to the cell's own
   service principal (the policy's credentialsSecretRef); the outcome faults set `operationOutcome` instead;
2. the cell's policy (or fleet) is applied; while the fault lasts the policy reports the fault's documented
   reason (`Fault.reason`, from docs/reasons.md and azure/errors.py) once the fault was hit at least once past
   the SDK's own retries, never `InternalError`, and the waiting faults (429, a never-ending operation) never
   an error reason; an operation whose failure the operator's design reports otherwise says so in its row
   (`shows_on`: an informational condition; `while_failing` and `why`: the reason it shows instead);
3. the fault is deleted (or the outcome set back to Succeeded) and the policy converges: Ready=True Converged;
4. Azure holds exactly one automation account, one Contributor assignment on the vault and one schedule and one
   job schedule per mapping (tests/e2e/estate_checks.py); a deletion scenario holds none of what the policy
   made; no Event message of the cell carries a traceback or InternalError.

Cells run in batches that share nothing: the vault-scoped cells at once, one operator process and one
namespace per fault column; beside them the fleet's subscription-wide vault discovery cells one at a time (a
path nothing else calls); the emulator-wide operation outcomes one at a time afterwards.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

# --- the tables ------------------------------------------------------------------------------------------------

RETRIES = 3  # AzureSettings.retry_total: the SDK tries a request 1 + 3 times before the operator sees the error
READ_TIMEOUT = 3.0  # ASR_AUTOUPDATE_READ_TIMEOUT for the matrix's operators
SLOW_SECONDS = 6.0  # the slow answer: past the read timeout

VAULT = r"/vaults/{vault}"
ACCOUNT = r"/automationAccounts/{account}"


@dataclasses.dataclass(frozen=True)
class Operation:
    """One Azure call of the operator: the method and path (a regex; `{vault}`, `{account}` are the cell's names)
    as the emulator's request log shows them, and the scenario that makes the operator send it."""

    name: str
    method: str
    path: str
    scenario: str = "policy"  # policy | paused | runas | delete | fleet | token | (see SCENARIOS)
    long_running: bool = False  # a Site Recovery operation: the outcome faults apply
    never_sent: str = ""  # why there is no cell: the operator never makes this call
    # where the fault's reason shows, when not on Ready: a read that only informs reports on its own condition
    shows_on: str = "Ready"
    # the reason while an HTTP fault lasts, when the operator's design says other than the fault's (and why)
    while_failing: str = ""
    why: str = ""

    def pattern(self, vault: str, account: str) -> str:
        return self.path.format(vault=re.escape(vault), account=re.escape(account))


OPERATIONS: tuple[Operation, ...] = (
    # the policy's own identity (credentialsSecretRef): a service principal per cell, its fault picked by clientId
    Operation("token", "POST", r"/oauth2/v2\.0/token$", scenario="token"),
    Operation("vault GET", "GET", VAULT + "$"),
    Operation("account GET", "GET", ACCOUNT + "$"),
    Operation("account PUT", "PUT", ACCOUNT + "$"),
    Operation(
        "account PATCH",
        "PATCH",
        ACCOUNT + "$",
        never_sent="the operator never PATCHes an account: it creates, and turns on the identity, with a PUT",
    ),
    Operation("account DELETE", "DELETE", ACCOUNT + "$", scenario="delete"),
    Operation("role list", "GET", VAULT + r"/providers/Microsoft\.Authorization/roleAssignments$"),
    Operation("role PUT", "PUT", VAULT + r"/providers/Microsoft\.Authorization/roleAssignments/[^/]+$"),
    Operation(
        "role DELETE",
        "DELETE",
        VAULT + r"/providers/Microsoft\.Authorization/roleAssignments/[^/]+$",
        scenario="delete",
    ),
    # read only for a schedule without a time zone (each mapping's source region gives it)
    Operation("fabric list", "GET", VAULT + r"/replicationFabrics$", scenario="localtime"),
    Operation("mapping list", "GET", VAULT + r"/replicationProtectionContainerMappings$"),
    Operation(
        "mapping PATCH", "PATCH", VAULT + r"/.*/replicationProtectionContainerMappings/[^/]+$", long_running=True
    ),
    Operation(
        "operation status",
        "GET",
        VAULT + r"/replicationOperationStatus/[^/]+$",
        while_failing="Progressing",
        why="a poll that fails says nothing of the operation, which is still running: it is polled again later "
        "(reconcile/operations.py), and the mappings show as updating",
    ),
    Operation(
        "protected items",
        "GET",
        VAULT + r"/replicationProtectedItems$",
        shows_on="AgentsCurrent",
        why="AgentsCurrent is informational: it never gates Ready (docs/reasons.md)",
    ),
    Operation("schedule list", "GET", ACCOUNT + r"/schedules$"),
    Operation("schedule PUT", "PUT", ACCOUNT + r"/schedules/[^/]+$"),
    Operation("schedule PATCH", "PATCH", ACCOUNT + r"/schedules/[^/]+$", scenario="paused"),
    Operation("job schedules", "GET", ACCOUNT + r"/jobSchedules$"),
    Operation(
        "jobs",
        "GET",
        ACCOUNT + r"/jobs$",
        while_failing="Converged",
        why="the jobs only inform status.jobs and the job-minutes estimate: the policy stays Ready meanwhile",
    ),
    Operation("certificate", "GET", ACCOUNT + r"/certificates/[^/]+$", scenario="runas"),
    Operation("connection", "GET", ACCOUNT + r"/connections/[^/]+$", scenario="runas"),
    Operation(
        "vault discovery",
        "GET",
        r"^/subscriptions/[^/]+/providers/Microsoft\.RecoveryServices/vaults$",
        scenario="fleet",
    ),
)


@dataclasses.dataclass(frozen=True)
class Fault:
    """One column: the admin fault's fields (or an operation outcome) and the reason it must be reported with."""

    name: str
    spec: dict | None  # POST /faults fields besides method and pathPattern; None: an operation outcome
    reason: str
    waiting: bool = False  # Azure says "not yet": Reconciling=True Progressing, never an error reason
    outcome: str | None = None  # emulator `operationOutcome` while it lasts
    long_running_only: bool = False


FAULTS: tuple[Fault, ...] = (
    Fault("429", {"status": 429, "retryAfter": 1}, "Progressing", waiting=True),
    Fault("500", {"status": 500}, "AzureUnavailable"),
    Fault("503", {"status": 503}, "AzureUnavailable"),
    Fault("drop", {"drop": True}, "AzureUnavailable"),
    Fault("slow", {"latencySeconds": SLOW_SECONDS}, "AzureUnavailable"),
    Fault("failed", None, "MappingUpdateFailed", outcome="Failed", long_running_only=True),
    Fault("never-ends", None, "Progressing", waiting=True, outcome="NeverEnds", long_running_only=True),
)

# Scenarios whose fault cannot be confined to one cell's vault: one cell at a time (a token fault is confined to
# the cell's own application by the fault's clientId)
GLOBAL_SCENARIOS = frozenset({"fleet"})


@dataclasses.dataclass(frozen=True)
class Cell:
    operation: Operation
    fault: Fault
    index: int  # the cell's vault: rsv-mx-NN

    @property
    def id(self) -> str:
        return f"{self.operation.name.replace(' ', '-')}-{self.fault.name}"

    @property
    def vault(self) -> str:
        return f"rsv-mx-{self.index:03d}"

    @property
    def policy(self) -> str:
        return f"mx-{self.index:03d}"

    @property
    def reason(self) -> str:
        """The reason the cell's condition must show while the fault lasts."""
        if self.fault.outcome is None and self.operation.while_failing:
            return self.operation.while_failing
        return self.fault.reason

    @property
    def serial(self) -> bool:
        """Run alone: its fault reaches beyond its vault."""
        return self.operation.scenario in GLOBAL_SCENARIOS or self.fault.outcome is not None


def not_applicable(operation: Operation, fault: Fault) -> str:
    """Why the cell is not run ('' when it is)."""
    if operation.never_sent:
        return operation.never_sent
    if fault.long_running_only and not operation.long_running:
        return "not a long-running operation (the outcome faults are the mapping PATCH's, whose operation it starts)"
    return ""


def cells() -> list[Cell]:
    applicable = [(o, f) for o in OPERATIONS for f in FAULTS if not not_applicable(o, f)]
    return [Cell(o, f, i) for i, (o, f) in enumerate(applicable)]


def skipped_cells() -> list[tuple[Operation, Fault, str]]:
    return [(o, f, why) for o in OPERATIONS for f in FAULTS if (why := not_applicable(o, f))]


Check = Callable[[], bool]


# --- running the cells -----------------------------------------------------------------------------------------

FIRST_SUBSCRIPTION_GROUP = "rg-mx"
# from the fault's start to its reason: the slow token cell needs ~80 s measured (azure-identity's own retries of
# 3 s timeouts, then the operator's); generous for a loaded machine, and spent only by a failing cell
REASON_TIMEOUT = 150.0
CONVERGE_TIMEOUT = 120.0  # from the fault's end to Ready (a 5xx without Retry-After is retried after 30 s)
SCHEDULE_TIME = "04:00"  # not Site Recovery's own: the operator rewrites each schedule (schedule PUT)
# The matrix's operators: drift checks every second, and request budgets and pass slots that ~20 policies at
# once do not queue on (documented knobs, docs/install.md); the emulator's own ARM buckets are raised to match.
OPERATOR_ARGS = (
    "--drift-tick",
    "1",
    "--drift-interval-override",
    "2",
    "--fleet-tick",
    "1",
    "--discovery-interval-override",
    "2",
    "--reads-per-second",
    "200",
    "--read-burst",
    "400",
    "--writes-per-second",
    "100",
    "--write-burst",
    "200",
    "--passes-per-subscription",
    "64",
    "--metrics-port",
    "0",
)
AZURE_CONFIG = {
    "principalPropagationDelaySeconds": 0,
    "readBucketSize": 100000,
    "readRefillPerSecond": 10000.0,
    "writeBucketSize": 100000,
    "writeRefillPerSecond": 10000.0,
    "deleteBucketSize": 100000,
    "deleteRefillPerSecond": 10000.0,
}
OPERATOR_ENV = {"ASR_AUTOUPDATE_LRO_POLLING_INTERVAL": "1", "ASR_AUTOUPDATE_READ_TIMEOUT": f"{READ_TIMEOUT:g}"}


@dataclasses.dataclass
class Result:
    """What a cell saw; `problems` empty: it passed."""

    cell: Cell
    namespace: str = ""
    hits: int = 0  # requests the fault answered
    reasons: list[str] = dataclasses.field(default_factory=list)  # Ready reasons seen while the fault lasted
    seconds_to_reason: float | None = None
    seconds_to_converge: float | None = None
    problems: list[str] = dataclasses.field(default_factory=list)

    def line(self) -> str:
        verdict = "PASS" if not self.problems else "FAIL " + "; ".join(self.problems)
        reason = f"{self.seconds_to_reason:5.1f}s" if self.seconds_to_reason is not None else "    -"
        converge = f"{self.seconds_to_converge:5.1f}s" if self.seconds_to_converge is not None else "    -"
        seen = ",".join(dict.fromkeys(self.reasons)) or "-"
        return (
            f"{self.cell.id:<28} {self.cell.operation.shows_on + ' ' + self.cell.reason:<32} hits {self.hits:3d}  reason after {reason}  "
            f"ready after {converge}  seen {seen:<40} {verdict}"
        )
