/* Op subsets. A build with -DTOR_OPSET=<mask> (bit n set: op code n of tor_format.h is in)
 * links only those ops' kernels, and tor_validate refuses an image that uses any other op
 * (TOR_ERR_OP), so a device keeps its last good model. Without TOR_OPSET every op is in.
 * The host computes a model's mask (tinyops.runtimes.tinyops_c.opset). */
#ifndef TOR_OPSET_H
#define TOR_OPSET_H

#include <stdint.h>

#if defined(TOR_OPSET)
#define TOR_HAS(code) ((((uint64_t)(TOR_OPSET)) >> (unsigned)(code)) & 1u)
#else
#define TOR_HAS(code) 1
#endif

#endif
