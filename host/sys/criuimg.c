// SPDX-License-Identifier: MIT
/* Rewriting CRIU's user-namespace image for another id range (criuimg.h). */
#include "criuimg.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define RANGE 65536u

struct buf {
	uint8_t *p;
	size_t len, size;
};

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -EINVAL;
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An image's next entry: its 32-bit little-endian size (in *ret_n), *p moved past it
 * to the entry, which lies within @end. */
static int next_entry(const uint8_t **p, const uint8_t *end, size_t *ret_n)
{
	if (end - *p < 4)
		return -EINVAL;
	*ret_n = le32(*p);
	*p += 4;
	return *ret_n > (size_t)(end - *p) ? -EINVAL : 0;
}

static int put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->size)
		return -ENOSPC;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	return put(b, tmp, n);
}

/* One UidGidExtent: its three fields, lower_first moved into the new range. */
static int remap_extent(const uint8_t *p, const uint8_t *end, uint32_t from, uint32_t to,
			struct buf *out)
{
	uint64_t f[4] = { 0 };
	bool seen[4] = { false };
	int r;

	while (p < end) {
		uint64_t tag, v;
		if ((r = get_varint(&p, end, &tag)) < 0)
			return r;
		unsigned field = (unsigned)(tag >> 3);
		if ((tag & 7) != 0 || field < 1 || field > 3 || seen[field])
			return -EINVAL;
		if ((r = get_varint(&p, end, &v)) < 0)
			return r;
		if (v > UINT32_MAX)
			return -EINVAL;
		f[field] = v;
		seen[field] = true;
	}
	if (!seen[1] || !seen[2] || !seen[3])
		return -EINVAL;
	if (f[2] < from || f[3] > RANGE || f[2] - from > RANGE - f[3])
		return -ERANGE;
	f[2] = f[2] - from + to;
	for (unsigned i = 1; i <= 3; i++)
		if ((r = put_varint(out, (uint64_t)i << 3)) < 0 || (r = put_varint(out, f[i])) < 0)
			return r;
	return 0;
}

/* One UsernsEntry into @out. */
static int remap_entry(const uint8_t *p, const uint8_t *end, uint32_t from, uint32_t to,
		       struct buf *out)
{
	int r;

	while (p < end) {
		uint64_t tag, len;
		if ((r = get_varint(&p, end, &tag)) < 0)
			return r;
		if ((tag & 7) != 2 || ((tag >> 3) != 1 && (tag >> 3) != 2))
			return -EINVAL;
		if ((r = get_varint(&p, end, &len)) < 0)
			return r;
		if (len > (uint64_t)(end - p))
			return -EINVAL;
		uint8_t ext[64];
		struct buf e = { .p = ext, .size = sizeof(ext) };
		if ((r = remap_extent(p, p + len, from, to, &e)) < 0)
			return r;
		if ((r = put_varint(out, tag)) < 0 || (r = put_varint(out, e.len)) < 0 ||
		    (r = put(out, ext, e.len)) < 0)
			return r;
		p += len;
	}
	return 0;
}

ssize_t criuimg_userns_remap(const uint8_t *in, size_t len, uint32_t from, uint32_t to,
			     uint8_t *out, size_t size)
{
	struct buf o = { .p = out, .size = size };
	int r;

	if (len < 8)
		return -EINVAL;
	if ((r = put(&o, in, 8)) < 0)
		return r;
	const uint8_t *p = in + 8, *end = in + len;
	while (p < end) {
		size_t n;
		if (next_entry(&p, end, &n) < 0)
			return -EINVAL;
		size_t at = o.len;
		uint8_t zero[4] = { 0 };
		if ((r = put(&o, zero, 4)) < 0 || (r = remap_entry(p, p + n, from, to, &o)) < 0)
			return r;
		size_t m = o.len - at - 4;
		for (int i = 0; i < 4; i++)
			o.p[at + (size_t)i] = (uint8_t)(m >> (8 * i));
		p += n;
	}
	return (ssize_t)o.len;
}

/* The end of the value of a field of wire type @wt starting at @p, or NULL. */
static const uint8_t *value_end(const uint8_t *p, const uint8_t *end, unsigned wt)
{
	uint64_t v;

	switch (wt) {
	case 0:
		return get_varint(&p, end, &v) < 0 ? NULL : p;
	case 1:
		return end - p < 8 ? NULL : p + 8;
	case 2:
		return get_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p) ? NULL : p + v;
	case 5:
		return end - p < 4 ? NULL : p + 4;
	default:
		return NULL;
	}
}

/* A TaskKobjIdsEntry with net_ns_id 0: its other fields as they are. */
static int ids_without_net(const uint8_t *p, const uint8_t *end, struct buf *out)
{
	int r;
	bool net = false;

	while (p < end) {
		const uint8_t *start = p;
		uint64_t tag;
		if ((r = get_varint(&p, end, &tag)) < 0)
			return r;
		const uint8_t *next = value_end(p, end, (unsigned)(tag & 7));
		if (!next)
			return -EINVAL;
		if (tag >> 3 == 6) {
			if ((tag & 7) != 0 || net)
				return -EINVAL;
			net = true;
			r = put_varint(out, tag) < 0 ? -ENOSPC : put_varint(out, 0);
		} else {
			r = put(out, start, (size_t)(next - start));
		}
		if (r < 0)
			return r;
		p = next;
	}
	return net ? 0 : -EINVAL;
}

ssize_t criuimg_inventory_own_netns(const uint8_t *in, size_t len, uint8_t *out, size_t size)
{
	struct buf o = { .p = out, .size = size };
	int r;

	if (len < 8)
		return -EINVAL;
	const uint8_t *p = in + 8, *end = in + len;
	uint32_t n = le32(in + 4);
	if (n != (size_t)(end - p))
		return -EINVAL; /* one entry, all of the image */
	uint8_t zero[4] = { 0 };
	if ((r = put(&o, in, 4)) < 0 || (r = put(&o, zero, 4)) < 0)
		return r;
	bool ids = false;
	while (p < end) {
		const uint8_t *start = p;
		uint64_t tag, sub;
		if ((r = get_varint(&p, end, &tag)) < 0)
			return r;
		const uint8_t *next = value_end(p, end, (unsigned)(tag & 7));
		if (!next)
			return -EINVAL;
		if (tag >> 3 != 3) {
			if ((r = put(&o, start, (size_t)(next - start))) < 0)
				return r;
			p = next;
			continue;
		}
		if ((tag & 7) != 2 || ids || get_varint(&p, end, &sub) < 0)
			return -EINVAL;
		ids = true;
		uint8_t tmp[256];
		struct buf t = { .p = tmp, .size = sizeof(tmp) };
		if ((r = ids_without_net(p, next, &t)) < 0)
			return r == -ENOSPC ? -EINVAL : r;
		if ((r = put_varint(&o, tag)) < 0 || (r = put_varint(&o, t.len)) < 0 ||
		    (r = put(&o, tmp, t.len)) < 0)
			return r;
		p = next;
	}
	if (!ids)
		return -EINVAL;
	size_t m = o.len - 8;
	for (int i = 0; i < 4; i++)
		o.p[4 + i] = (uint8_t)(m >> (8 * i));
	return (ssize_t)o.len;
}

int criuimg_files_need_net(const uint8_t *in, size_t len)
{
	if (len < 8)
		return -EINVAL;
	const uint8_t *p = in + 8, *end = in + len;
	while (p < end) {
		size_t n;
		if (next_entry(&p, end, &n) < 0)
			return -EINVAL;
		const uint8_t *q = p, *e = p + n;
		uint64_t tag, type;
		/* type = 1 comes first, as CRIU writes it */
		if (get_varint(&q, e, &tag) < 0 || tag != (1 << 3 | 0) ||
		    get_varint(&q, e, &type) < 0)
			return -EINVAL;
		switch (type) {
		case 1:	 /* REG */
		case 2:	 /* PIPE */
		case 3:	 /* FIFO */
		case 5:	 /* UNIXSK */
		case 6:	 /* EVENTFD */
		case 7:	 /* EVENTPOLL */
		case 8:	 /* INOTIFY */
		case 9:	 /* SIGNALFD */
		case 11: /* TTY */
		case 12: /* FANOTIFY */
		case 13: /* NETLINKSK */
		case 14: /* NS */
		case 17: /* TIMERFD */
		case 18: /* MEMFD */
		case 19: /* BPFMAP */
		case 20: /* PIDFD */
			break;
		default: /* INETSK, PACKETSK, TUNF, EXT, or one this does not know */
			return 1;
		}
		p = e;
	}
	return 0;
}

/* One field of a protobuf message: its number, wire type and varint value (wire type 0),
 * @p moved past it. */
static int next_field(const uint8_t **p, const uint8_t *end, unsigned *field, uint64_t *v)
{
	uint64_t tag;

	*v = 0;
	if (get_varint(p, end, &tag) < 0 || tag >> 3 > UINT32_MAX)
		return -EINVAL;
	*field = (unsigned)(tag >> 3);
	if ((tag & 7) == 0)
		return get_varint(p, end, v);
	*p = value_end(*p, end, (unsigned)(tag & 7));
	*field = 0; /* not a varint: of no interest here */
	return *p ? 0 : -EINVAL;
}

int64_t criuimg_pagemap_pages(const uint8_t *in, size_t len, uint32_t *ret_pages_id)
{
	const uint8_t *p = in + 8, *end = in + len, *q, *e;
	unsigned field;
	uint64_t v, sum = 0;
	size_t n;
	bool id = false;

	if (len < 8 || next_entry(&p, end, &n) < 0)
		return -EINVAL;
	for (q = p, e = p + n; q < e;) {
		if (next_field(&q, e, &field, &v) < 0)
			return -EINVAL;
		if (field == 1 && v <= UINT32_MAX) {
			*ret_pages_id = (uint32_t)v;
			id = true;
		}
	}
	if (!id)
		return -EINVAL;
	for (p = e; p < end; p = e) {
		uint64_t compat = 0, nr = 0, parent = 0, flags = 0;
		bool has_nr = false, has_flags = false;
		if (next_entry(&p, end, &n) < 0)
			return -EINVAL;
		for (q = p, e = p + n; q < e;) {
			if (next_field(&q, e, &field, &v) < 0)
				return -EINVAL;
			switch (field) {
			case 2: /* compat_nr_pages */
				compat = v;
				break;
			case 3: /* in_parent */
				parent = v;
				break;
			case 4: /* flags: PE_PARENT 1, PE_LAZY 2, PE_PRESENT 4 */
				flags = v;
				has_flags = true;
				break;
			case 5: /* nr_pages */
				nr = v;
				has_nr = true;
				break;
			}
		}
		uint64_t pages = has_nr ? nr : compat;
		if (!(has_flags ? flags & 4 : !parent))
			continue;
		if (pages > (uint64_t)INT64_MAX - sum)
			return -EINVAL;
		sum += pages;
	}
	return (int64_t)sum;
}
