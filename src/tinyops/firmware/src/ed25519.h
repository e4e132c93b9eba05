#ifndef TINYOPS_ED25519_H
#define TINYOPS_ED25519_H
#include <stdint.h>
/* Ed25519 signature verification (RFC 8032; verify only, no secrets, so not
 * constant time). The message is given in up to two pieces (a domain prefix and
 * the body). Returns 0 when `sig` is pk's signature of prefix || msg. */
int fw_ed25519_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *prefix, uint32_t prefix_len,
                      const uint8_t *msg, uint32_t msg_len);
#endif
