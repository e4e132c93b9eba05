# RUNTIME=tflm | tflm-cmsis-nn: the firmware with TensorFlow Lite Micro as its model runtime.
# Included by firmware/Makefile after board.mk. Given on the command line (devices/tflm_firmware.py
# does this): TFLM_LIB = libtflm-<variant>.a, TFLM_FLAGS = its compile flags (tflm-<variant>.flags).
ifeq ($(strip $(TFLM_LIB)),)
$(error RUNTIME=$(RUNTIME) needs TFLM_LIB and TFLM_FLAGS: build them with `tinyops sim start --runtime $(RUNTIME)` or tinyops.devices.tflm_firmware)
endif
# The tinyops-c runtime and src/model.c are replaced by tflm/model_tflm.cc.
RT_SRCS :=
FW_SRCS := $(filter-out src/model.c,$(FW_SRCS))
CXX_SRCS := tflm/model_tflm.cc
BOARD_CXX ?= $(patsubst %gcc,%g++,$(BOARD_CC))
BOARD_CXXFLAGS := $(filter-out -std=c99 -Wextra,$(BOARD_CFLAGS)) -std=c++17 -fno-rtti -fno-exceptions \
  -fno-threadsafe-statics -funsigned-char -DFW_TFLM_KERNELS=\"$(RUNTIME)\"
LINK = $(BOARD_CXX)
LINK_LIBS = $(TFLM_LIB)

$(OUT)/obj/tflm/%.o: tflm/%.cc tflm/ops.def $(wildcard src/*.h) boards/$(BOARD)/board.mk
	@mkdir -p $(dir $@)
	$(BOARD_CXX) $(CPPFLAGS) -Itflm $(TFLM_FLAGS) $(BOARD_CXXFLAGS) -c $< -o $@
