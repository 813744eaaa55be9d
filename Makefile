# `make run`: create .venv, install phonerec, run the TIMIT recipe on the default (synthetic) corpus.
# `make test`: same environment, then the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install run test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: install
	cd recipes/timit && PYTHON=$(abspath $(PY)) ./run.sh $(ARGS)

test: install
	$(PY) -m pytest -q

clean:
	rm -rf recipes/timit/data recipes/timit/exp
