/* SPDX-License-Identifier: MIT */
/* A minimal unit-test harness for the runner protocol (tests/run.sh): `--list` prints
 * the cases, `NAME` runs one. Each case is a function; a failed check prints where
 * and exits 1. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define MAX_TESTS 128
static struct test_case tests_[MAX_TESTS];
static int ntests_;

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		tests_[ntests_++] = (struct test_case){ #name, test_##name };                      \
	}                                                                                          \
	static void test_##name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_) {                                                                    \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
				__LINE__, #a, a_, #b, b_);                                         \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_STR_CONTAINS(s, sub)                                                                 \
	do {                                                                                       \
		const char *s_ = (s);                                                              \
		if (!s_ || !strstr(s_, (sub))) {                                                   \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,       \
				__LINE__, s_ ? s_ : "(null)", (sub));                              \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (int i = 0; i < ntests_; i++)
			puts(tests_[i].name);
		return 0;
	}
	for (int i = 0; argc == 2 && i < ntests_; i++)
		if (!strcmp(argv[1], tests_[i].name)) {
			tests_[i].fn();
			return 0;
		}
	fprintf(stderr, "usage: %s --list | CASE\n", argv[0]);
	return 2;
}
