/* MLPerf Tiny (EEMBC runner) ASCII commands, with the reference replies. */
#ifndef TINYOPS_MLPERF_H
#define TINYOPS_MLPERF_H
#include <stdint.h>
void mlperf_reset(void);
/* Execute one command (without its '%'), then print m-ready. */
void mlperf_command(char *line);
#endif
