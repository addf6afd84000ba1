/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bytes of packet headers, for the tests that build frames and the
 * reference that reads them (steer_world.h): big-endian fields and the
 * Internet checksum (RFC 1071).
 */
#ifndef PS_TESTS_PKT_H
#define PS_TESTS_PKT_H

#include <stddef.h>
#include <stdint.h>

void pkt_put16(uint8_t *p, uint16_t v);
void pkt_put32(uint8_t *p, uint32_t v);
uint16_t pkt_get16(const uint8_t *p);

/*
 * One's complement sum of @n bytes at @b (an odd last byte padded with
 * zero) added to @sum, not folded: chain it over a pseudo header.
 */
uint32_t pkt_sum16(const uint8_t *b, size_t n, uint32_t sum);
/* The checksum of a pkt_sum16() total: folded to 16 bits and inverted. */
uint16_t pkt_fold(uint32_t sum);

#endif
