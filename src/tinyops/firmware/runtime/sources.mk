# The tinyops-c runtime sources, for any build that embeds the runtime (firmware, host
# shared library, fuzzer). Plain C99, no board dependencies. Include with
#   TOR_DIR := path/to/firmware/runtime ; include $(TOR_DIR)/sources.mk
TOR_DIR ?= $(dir $(lastword $(MAKEFILE_LIST)))
# One file a line (several people add kernels).
TOR_SRCS = \
  $(TOR_DIR)/tor_loader.c \
  $(TOR_DIR)/tor_validate_ops.c \
  $(TOR_DIR)/tor_invoke.c \
  $(TOR_DIR)/tor_kernels_conv.c \
  $(TOR_DIR)/tor_kernels_dw.c \
  $(TOR_DIR)/tor_kernels_dw_m4.c \
  $(TOR_DIR)/tor_kernels_fc.c \
  $(TOR_DIR)/tor_kernels_mac.c \
  $(TOR_DIR)/tor_kernels.c \
  $(TOR_DIR)/tor_validate_data.c \
  $(TOR_DIR)/tor_kernels_copy.c \
  $(TOR_DIR)/tor_kernels_resize.c \
  $(TOR_DIR)/tor_kernels_tconv.c \
  $(TOR_DIR)/tor_kernels_svdf.c \
  $(TOR_DIR)/tor_kernels_elementwise.c \
  $(TOR_DIR)/tor_kernels_reduce.c \
  $(TOR_DIR)/tor_stream.c \

TOR_INCLUDES = -I$(TOR_DIR)
