/*
 * evict_fuzz.c
 *		libFuzzer target for the choice of tenants to evict (stats_evict.c):
 *		for any orders (many equal ones too) and any k, the selection ends,
 *		stays in bounds, keeps every candidate, and puts k smallest first.
 */
#include "c.h"

#include <stdlib.h>

#include "stats_evict.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	EvictionCandidate *c;
	uint64		sum_before = 0;	/* wraps: a checksum of the multiset */
	uint64		sum_after = 0;
	int			n;
	int			k;
	int64		largest_first = PG_INT64_MIN;

	if (size < 2)
		return 0;
	/* one byte for k, then one order per byte: small values repeat a lot */
	n = (int) size - 1;
	k = 1 + data[0] % n;
	c = malloc(sizeof(EvictionCandidate) * n);
	if (c == NULL)
		return 0;
	for (int i = 0; i < n; i++)
	{
		StatsCounters counters = {0};

		counters.transactions = data[i + 1] & 1 ? 2 : 1;
		counters.last_activity = data[i + 1] >> 1;
		memset(&c[i], 0, sizeof(c[i]));
		c[i].order = trovella_eviction_order(&counters);
		c[i].slot = i;		/* tells candidates apart */
		sum_before += (uint64) c[i].order * 31 + (uint64) i;
	}
	trovella_select_smallest(c, n, k);
	for (int i = 0; i < n; i++)
		sum_after += (uint64) c[i].order * 31 + (uint64) c[i].slot;
	if (sum_before != sum_after)
		abort();				/* a candidate lost or duplicated */
	for (int i = 0; i < k; i++)
		largest_first = Max(largest_first, c[i].order);
	for (int i = k; i < n; i++)
		if (c[i].order < largest_first)
			abort();			/* a smaller one left behind */
	free(c);
	return 0;
}
