# Every target creates or reuses .venv and installs what it needs from constraints.txt, and builds (or reuses)
# the real kube-apiserver and etcd in .controlplane/ with the machine's Go (hack/controlplane/build).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck sandbox controlplane lock clean

$(STAMP): pyproject.toml sandbox/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		--no-build-isolation -e '.[test]' -e ./sandbox
	@touch $(STAMP)

## controlplane: build kube-apiserver and etcd from their Go modules when missing or stale (minutes cold, ms warm)
controlplane:
	@hack/controlplane/build >/dev/null

## demo: start the sandbox, run the operator on the examples, show the policies converge, stop everything
demo: $(STAMP) controlplane
	$(BIN)/asr-autoupdate demo

## test: lint and type-check, then the whole suite (unit, contract, adapter, Azure emulator, RBAC, end to end)
test: $(STAMP) controlplane lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff's checks and its formatting, on everything Python in the tree
lint: $(STAMP)
	$(BIN)/ruff check operator sandbox tests bench .ci
	$(BIN)/ruff format --check operator sandbox tests bench .ci

## typecheck: mypy --strict on the operator
typecheck: $(STAMP)
	$(BIN)/mypy

## sandbox: run the emulators in the foreground with their files in .sandbox/
sandbox: $(STAMP) controlplane
	$(BIN)/asr-autoupdate sandbox --state-dir .sandbox

## lock: refresh constraints.txt from the current environment after changing a pin in pyproject.toml
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --all | grep -v '^asr-autoupdate' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .sandbox .controlplane
