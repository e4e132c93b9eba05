# Two commands: `make demo` runs the loop end to end on emulated devices;
# `make test` installs what the tests need and runs them.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
APT_PACKAGES = chromium chromium-driver gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm mosquitto mosquitto-clients clang g++ make libclang-rt-14-dev espeak-ng sox
STAMP = .tinyops-install.stamp
# TensorFlow Lite Micro sources (TFLM firmware, the export test, benchmarks): a user's tree,
# else ../shared/third_party next to the checkout.
TFLM_DIR ?= $(if $(wildcard ../shared/third_party/tflite-micro),$(abspath ../shared/third_party))
export TFLM_DIR

.PHONY: install install-apt install-pip test demo firmware bench fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(MAKE) install-apt
	$(MAKE) install-pip
	touch $(STAMP)

install-apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

install-pip:
	$(PIP) install -q --disable-pip-version-check -e ".[train,agent,dev,collector]"

test: install
	$(PYTHON) -m pytest -q -x --durations=15 tests

demo: install
	PYTHON=$(PYTHON) bash examples/demo.sh

bench: install
	for f in benchmarks/*.py; do $(PYTHON) $$f || exit 1; done

clean:
	rm -f $(STAMP)
