// SPDX-License-Identifier: MIT
/* Fuzz target: rate cards (an operator's file, reloaded on SIGHUP), and the pricing of
 * whatever prices they hold. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/billing/rates.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rates *r = NULL;
	char *err = NULL;

	if (rates_parse("fuzz.json", (const char *)data, size, &r, &err) == 0) {
		if (err || strlen(r->currency) != 3)
			abort();
		for (unsigned i = 0; i < r->nprices; i++) {
			uint64_t list, con;
			if (rates_price(r, r->ntenants ? r->tenants[0].name : NULL,
					r->prices[i].sku, &list, &con) < 0 ||
			    con > list)
				abort(); /* a discount never raises a price */
			(void)rates_cost(con, rates_pricing_quantity(UINT64_MAX / 3, 7));
		}
		rates_free(r);
	} else if (!err || strchr(err, '\n')) {
		abort(); /* every refusal says why, in one line */
	}
	free(err);
	return 0;
}
