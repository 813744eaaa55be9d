# `make run`: create .venv, install phonerec, run the TIMIT recipe on the default (synthetic) corpus.
# `make test`: same environment, then the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install run test clean

install: $(VENV)/.installed

# requirements.lock pins every transitive dependency (uv pip compile, see the README), so a
# fresh machine installs exactly what was tested; pyproject.toml keeps the ranges for pip users.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test,lexicon,report,serve]'
	touch $@

run: install
	cd recipes/timit && PYTHON=$(abspath $(PY)) ./run.sh $(ARGS)

test: install
	$(PY) -m pytest -q

clean:
	rm -rf recipes/timit/data recipes/timit/exp
