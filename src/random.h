/*
 * random.h
 *		Buffered strong randomness, never shared across fork().
 */
#ifndef TROVELLA_RANDOM_H
#define TROVELLA_RANDOM_H

#include <stddef.h>
#include <stdint.h>

extern void trovella_random_bytes(uint8_t *buf, size_t len);

#endif							/* TROVELLA_RANDOM_H */
