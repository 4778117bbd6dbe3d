/* SPDX-License-Identifier: MIT */
#include "reply.h"

#include "../../sandbox/text.h"
#include "../sys/b64.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int why_set(struct why *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	text_sanitize(w->msg); /* one line whatever the values it quotes */
	return err;
}

json_t *reply_data_json(const char *data, size_t len, const char **key)
{
	json_t *s = json_stringn(data, len);
	if (s) {
		*key = "data";
		return s;
	}
	*key = "data_b64";
	char *enc = b64_encode(data, len);
	s = json_string(enc ? enc : "");
	free(enc);
	return s;
}

json_t *reply_ev_json(const struct reply_ev *ev)
{
	const char *key;
	json_t *d;

	switch (ev->type) {
	case REV_START:
		return json_pack("{s:s,s:i}", "type", "start", "pid", ev->pid);
	case REV_STDOUT:
	case REV_STDERR:
		d = reply_data_json(ev->data, ev->len, &key);
		json_t *j =
			json_pack("{s:s}", "type", ev->type == REV_STDOUT ? "stdout" : "stderr");
		json_object_set_new(j, key, d);
		return j;
	case REV_WATCHING:
		return json_pack("{s:s}", "type", "watching");
	case REV_FS: {
		static const char *const kinds[] = { [FSEV_CREATE] = "create",
						     [FSEV_WRITE] = "write",
						     [FSEV_REMOVE] = "remove",
						     [FSEV_RENAME] = "rename",
						     [FSEV_CHMOD] = "chmod" };
		d = reply_data_json(ev->data, ev->len, &key);
		json_t *fs = json_pack("{s:s,s:s}", "type", "fs", "event", kinds[ev->code]);
		json_object_set_new(fs, key, d);
		return fs;
	}
	case REV_EXIT:
		break;
	}
	return json_pack("{s:s,s:i,s:b}", "type", "exit", "exit_code", ev->code, "timed_out",
			 ev->timed_out);
}

void reply_static_hold(struct reply *r)
{
	(void)r;
}

static bool none_alive(const struct reply *r)
{
	(void)r;
	return false;
}

static void none_done(struct reply *r, enum reply_kind kind, json_t *body)
{
	(void)r;
	(void)kind;
	json_decref(body);
}

static void none_fail(struct reply *r, int err, const char *msg)
{
	(void)r;
	(void)err;
	(void)msg;
}

static const struct reply_ops none_ops = {
	.hold = reply_static_hold,
	.release = reply_static_hold,
	.alive = none_alive,
	.done = none_done,
	.fail = none_fail,
};

struct reply *reply_none(void)
{
	static struct reply none = { .ops = &none_ops };
	return &none;
}
