# The two commands of the README: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean venv proto

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

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info

# Regenerates the committed protobuf module from proto/ (grpcio-tools: the proto or test extra);
# tests/formats/test_generated_module.py checks the committed module is up to date.
proto:
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=monitor/formats \
		--pyi_out=monitor/formats proto/open_inference_grpc.proto
