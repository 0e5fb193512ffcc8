# The two commands of the README: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-peers clean venv proto

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/driftd demo

# Three workers, one test file each at a time: most integration tests wait on the broker
# or on subprocesses, so three share two cores well and the suite stays under 15 minutes.
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Not part of `make test`. Uses .venv-peers (from `make bench-peers`) when it exists.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

# Evidently, Alibi Detect and NannyML pin numpy 1.x: they get an interpreter of their own.
bench-peers:
	test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install --quiet evidently alibi-detect nannyml

clean:
	rm -rf $(VENV) .venv-peers build dist *.egg-info

# Regenerates the committed protobuf module from proto/ (grpcio-tools: the proto or test extra);
# tests/formats/test_generated_module.py checks the committed module is up to date.
proto:
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=monitor/formats \
		--pyi_out=monitor/formats proto/open_inference_grpc.proto
