# The README's two commands: `make run` and `make test`. Everything they need is installed from here.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
WAREHOUSE ?= warehouse/illusion.duckdb
PORT ?= 8501
ARTIFACTS ?= test-artifacts
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test install fetch demo serve chromium bench clean

# The dashboard is served as soon as the demo build's first steps land; the build goes on behind it and each
# page fills in when its step lands (pipeline/first_run.py). `make demo` then `make serve` do it in turn.
run: install fetch
	$(BIN)/python -m pipeline.first_run --warehouse $(WAREHOUSE) --port $(PORT)

# torch first and pinned: an unpinned torch pulled in by another package would bring gigabytes of CUDA.
$(BIN)/.installed: requirements.txt pipeline/requirements.txt pipeline/requirements-ray.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

fetch: install
	$(BIN)/python -m pipeline fetch

demo: install
	$(BIN)/python -m pipeline build --preset demo --warehouse $(WAREHOUSE)

serve: install
	ILLUSION_WAREHOUSE=$(WAREHOUSE) $(BIN)/streamlit run app.py --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# The emoji font: without it the page icons in the sidebar are empty boxes in the screenshots.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "color emoji"; } || { \
		echo "installing Debian chromium and an emoji font for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }

test: install chromium fetch
	mkdir -p $(ARTIFACTS)
	ILLUSION_ARTIFACTS=$(abspath $(ARTIFACTS)) $(BIN)/python -m pytest
	@echo "browser screenshots: $(abspath $(ARTIFACTS))"

# Every benchmark, then benchmarks/README.md rewritten with the figures and the machine they came from.
bench: install fetch demo chromium
	$(BIN)/python -m benchmarks.run_all --warehouse $(WAREHOUSE)

clean:
	rm -rf $(VENV) $(ARTIFACTS) .pytest_cache
