"""Fail CI when tests go missing: every suite folder must have run tests, and the total must not shrink."""

import sys
import xml.etree.ElementTree as ET

# Raise the floor when tests are added; a drop below it means tests went missing (deleted, or not collected).
# Lowered once, from 1040 to 1030, when the Kubernetes emulator and its 44 tests were deleted (issue 8).
# Raised by 107 with the fault matrix's cells (tests/e2e/test_fault_matrix.py, issue 12).
MINIMUM_TOTAL = 1707
REQUIRED_SUITES = [
    "tests/test_layering.py",
    "tests/test_cli.py",
    "tests/unit",
    "tests/contract",
    "tests/docs",
    "tests/adapter",
    "tests/sandbox/azure",
    "tests/sandbox/test_sandbox_command.py",
    "tests/e2e",
    "tests/e2e/test_chart_rbac.py",
    "tests/e2e/test_server_side_apply.py",
    "tests/e2e/test_real_pace.py",
    "tests/sandbox/azure/test_azure_real_pace.py",
    "tests/sandbox/azure/test_azure_fidelity.py",
    "tests/e2e/test_pause.py",
    "tests/e2e/test_rollout_waves.py",
    "tests/e2e/test_restart_spread.py",
    "tests/e2e/test_throttling.py",
    "tests/unit/test_fleet_waves.py",
    "tests/contract/test_fleet_crd.py",
    "tests/docs/test_rollouts.py",
    "tests/sandbox/azure/test_azure_date_header.py",
    "tests/sandbox/azure/test_azure_update_failures.py",
    "tests/chart",
    "tests/e2e/test_failover.py",
    "tests/contract/test_generated_bad_input.py",
    "tests/e2e/test_generated_bad_input.py",
    "tests/adapter/test_tls_reuse.py",
    "tests/e2e/test_crash_trials.py",
    "tests/unit/test_peering.py",
    "tests/e2e/test_fault_matrix.py",
    "tests/e2e/test_kubernetes_faults.py",
    "tests/e2e/test_secret_rotation.py",
]


def main(junit_path: str) -> int:
    cases = list(ET.parse(junit_path).getroot().iter("testcase"))
    ran = [c for c in cases if c.find("skipped") is None]
    problems = []
    if len(ran) < MINIMUM_TOTAL:
        problems.append(f"{len(ran)} tests ran, expected at least {MINIMUM_TOTAL}")
    for suite in REQUIRED_SUITES:
        module = suite.removesuffix(".py").replace("/", ".")
        if not any((c.get("classname") or "").startswith(module) for c in ran):
            problems.append(f"no test ran from {suite}")
    skipped = [f"{c.get('classname')}::{c.get('name')}" for c in cases if c.find("skipped") is not None]
    print(f"{len(ran)} tests ran, {len(skipped)} skipped")
    for name in skipped:
        print(f"  skipped: {name}")
    for problem in problems:
        print(f"MISSING: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
