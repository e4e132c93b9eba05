# posix: native build with the host compiler.
CC_posix ?= cc
BOARD_CC = $(CC_posix)
BOARD_CFLAGS = -O2 -g -Wall -Wextra -std=c99 -D_POSIX_C_SOURCE=200809L
BOARD_LDFLAGS = -lm
BOARD_SRCS = boards/posix/hal_posix.c
BOARD_OUT = tinyops-fw-posix
