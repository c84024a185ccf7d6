# docenrich — every command a newcomer needs. `make run` and `make test` are the contract.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test test-unit test-integration eval bench train-ner soak clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

run: install
	$(VENV)/bin/docenrich run

test: install
	$(PY) -m pytest -q -ra

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install
	$(PY) -m pytest -q tests/integration

eval: install
	$(PY) -m evaluation.language
	$(PY) -m evaluation.summary
	$(PY) -m evaluation.ner

bench: install
	$(PY) -m bench.run

# Needs ../shared/data/ner. Arabic (ar_encoder_xl) is tagged e12: the distilled students in training/ner/models.json read that run.
train-ner: install
	$(PY) -m pip install --disable-pip-version-check -q -e '.[train]'
	$(PY) -m training.ner.encoder --model ar_encoder_xl --tag e12
	$(PY) -m training.ner.encoder --model en --model es_e5 --model ru_e5 --model nl_e5
	$(PY) -m training.ner.train --model de --model fr --model it --model pl --model pt
	$(PY) -m evaluation.ner
	$(PY) -m training.ner.card

clean:
	rm -rf .run .pytest_cache

soak: install
	$(PY) -m tests.soak
