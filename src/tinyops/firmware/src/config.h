/* Compile-time sizes. A board may override any of them with -D in its Makefile
 * fragment (firmware/boards/<board>/board.mk). */
#ifndef TINYOPS_FW_CONFIG_H
#define TINYOPS_FW_CONFIG_H

#define FW_VERSION_MAJOR 0
#define FW_VERSION_MINOR 1
#define FW_VERSION_PATCH 0
#define FW_PROTOCOL_VERSION 1
#define FW_NAME "tinyops-fw"

#ifndef FW_SLOT_CAPACITY
#define FW_SLOT_CAPACITY (512u * 1024u) /* bytes of model image per A/B slot */
#endif
#ifndef FW_ARENA_CAPACITY
#define FW_ARENA_CAPACITY (256u * 1024u) /* tensor arena handed to the runtime */
#endif
#ifndef FW_INPUT_CAPACITY
#define FW_INPUT_CAPACITY (32u * 1024u) /* staged input: RUN and MLPerf `db` */
#endif
#ifndef FW_MAX_CHUNK
#define FW_MAX_CHUNK 4096u /* largest DATA payload */
#endif
/* Largest decoded frame: header + offset + chunk + CRC, with room to spare. */
#define FW_MAX_FRAME (FW_MAX_CHUNK + 32u)
#ifndef FW_RX_WINDOW
#define FW_RX_WINDOW (16u * 1024u) /* bytes the host may keep in flight */
#endif
#define FW_HIST_BINS 16u
#ifndef FW_HIST_MAX_FEATURES
#define FW_HIST_MAX_FEATURES 64u
#endif
#define FW_ASCII_MAX 80u /* MLPerf: a command is at most 80 characters */

#endif
