# Every target creates or reuses .venv and installs what it needs from constraints.txt.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test sandbox lock clean

$(STAMP): pyproject.toml sandbox/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		--no-build-isolation -e '.[test]' -e ./sandbox
	@touch $(STAMP)

## demo: start the sandbox, run the operator on the examples, show the policies converge, stop everything
demo: $(STAMP)
	$(BIN)/asr-autoupdate demo

## test: the whole suite (unit, contract, adapter, emulators, end to end)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## sandbox: run the emulators in the foreground with their files in .sandbox/
sandbox: $(STAMP)
	$(BIN)/asr-autoupdate sandbox --state-dir .sandbox

## lock: refresh constraints.txt from the current environment after changing a pin in pyproject.toml
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --all | grep -v '^asr-autoupdate' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .sandbox
