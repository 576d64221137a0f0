/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "vigil/cbor.h"

int vg_cbor_head(struct vg_cbor *c, uint8_t *major, uint64_t *val)
{
	uint8_t ai;
	size_t extra;

	if (c->n < 1)
		return -EBADMSG;
	*major = c->p[0] >> 5;
	ai = c->p[0] & 0x1f;
	c->p++;
	c->n--;
	if (ai < 24) {
		*val = ai;
		return 0;
	}
	if (ai > 27)
		return -EBADMSG; /* indefinite lengths and reserved values */
	extra = (size_t)1 << (ai - 24);
	if (c->n < extra)
		return -EBADMSG;
	*val = 0;
	for (size_t i = 0; i < extra; i++)
		*val = (*val << 8) | c->p[i];
	c->p += extra;
	c->n -= extra;
	return 0;
}

int vg_cbor_skip(struct vg_cbor *c, int depth)
{
	uint8_t major;
	uint64_t val;
	int r;

	if (depth > VG_CBOR_MAX_DEPTH)
		return -EBADMSG;
	if ((r = vg_cbor_head(c, &major, &val)) < 0)
		return r;
	switch (major) {
	case 0: /* unsigned */
	case 1: /* negative */
	case 7: /* simple / float: the head already held the value */
		return 0;
	case 2: /* byte string */
	case 3: /* text string */
		if (val > c->n)
			return -EBADMSG;
		c->p += val;
		c->n -= (size_t)val;
		return 0;
	case 4: /* array */
	case 5: /* map: two items per entry */
		/* every item takes at least one byte: a count above what is left is malformed */
		if (val > c->n || (major == 5 && val > c->n / 2))
			return -EBADMSG;
		for (uint64_t i = 0; i < (major == 5 ? 2 * val : val); i++)
			if ((r = vg_cbor_skip(c, depth + 1)) < 0)
				return r;
		return 0;
	default: /* 6: tag, then one item */
		return vg_cbor_skip(c, depth + 1);
	}
}

int vg_cbor_int(struct vg_cbor *c, int64_t *out)
{
	uint8_t major;
	uint64_t val;

	if (vg_cbor_head(c, &major, &val) < 0 || major > 1 || val > INT64_MAX)
		return -EBADMSG;
	*out = major == 0 ? (int64_t)val : -1 - (int64_t)val;
	return 0;
}

int vg_cbor_string(struct vg_cbor *c, uint8_t want, const uint8_t **s, size_t *len)
{
	uint8_t major;
	uint64_t v;

	if (vg_cbor_head(c, &major, &v) < 0 || major != want || v > c->n)
		return -EBADMSG;
	*s = c->p;
	*len = (size_t)v;
	c->p += v;
	c->n -= (size_t)v;
	return 0;
}
