// SPDX-License-Identifier: MIT
/* Unit tests for /v1 request bodies. */
#define _GNU_SOURCE
#include "../../host/domain/apispec.h"

#include <arpa/inet.h>
#include <errno.h>

#include "harness.h"

TEST(create_full)
{
	static const char b[] =
		"{\"image\":\"host\",\"cmd\":[\"sh\",\"-c\",\"echo hi\"],\"env\":{\"K\":\"V\"},"
		"\"workdir\":\"/tmp\",\"hostname\":\"a1\",\"user\":\"1000:100\","
		"\"limits\":{\"memory\":\"256M\",\"cpus\":0.5,\"pids\":64,\"timeout\":\"10m\","
		"\"idle_timeout\":30},\"net\":\"loopback\",\"gpus\":[\"0\"],"
		"\"labels\":{\"team\":\"x\"},\"writable_size\":1048576,\"user_ns\":true}";
	struct api_create c;
	char *err;
	CHECK_EQ_INT(apispec_parse_create(b, sizeof(b) - 1, &c, &err), 0);
	CHECK(!strcmp(c.image, "host"));
	CHECK(!strcmp(c.cmd[2], "echo hi") && !c.cmd[3]);
	CHECK(!strcmp(c.env[0], "K=V") && !c.env[1]);
	CHECK(c.set_user && c.uid == 1000 && c.gid == 100);
	CHECK_EQ_INT(c.limits.memory_bytes, 256 << 20);
	CHECK_EQ_INT(c.limits.cpu_milli, 500);
	CHECK_EQ_INT(c.limits.pids, 64);
	CHECK_EQ_INT(c.limits.timeout_ns, 600000000000ULL);
	CHECK_EQ_INT(c.idle_timeout_ns, 30000000000ULL);
	CHECK(c.net == NET_LOOPBACK && c.writable_bytes == 1 << 20);
	CHECK(!strcmp(c.gpus[0], "0") && !c.gpus[1]);
	CHECK(!strcmp(c.labels[0], "team") && !strcmp(c.labels[1], "x") && !c.labels[2]);
	api_create_clear(&c);
}

TEST(create_defaults)
{
	struct api_create c;
	char *err;
	CHECK_EQ_INT(apispec_parse_create("{}", 2, &c, &err), 0);
	CHECK(!strcmp(c.image, "base") && c.cmd == NULL && c.env[0] == NULL);
	CHECK(c.gpus[0] == NULL && c.labels[0] == NULL && !c.set_user);
	CHECK_EQ_INT(c.limits.memory_bytes, 0);
	api_create_clear(&c);
	static const char b2[] = "{\"limits\":{\"cpus\":\"1.25\"}}";
	CHECK_EQ_INT(apispec_parse_create(b2, strlen(b2), &c, &err), 0);
	CHECK_EQ_INT(c.limits.cpu_milli, 1250);
	api_create_clear(&c);
}

static void expect(const char *body, const char *want)
{
	struct api_create c;
	char *err = NULL;
	CHECK_EQ_INT(apispec_parse_create(body, strlen(body), &c, &err), -EINVAL);
	CHECK_STR_CONTAINS(err, want);
	CHECK(strchr(err, '\n') == NULL);
	free(err);
}

TEST(create_errors_name_the_field)
{
	expect("{\"image\":", "invalid JSON at line 1");
	expect("[]", "the body must be a JSON object");
	expect("{\"imgae\":\"base\"}", "imgae: unknown field");
	expect("{\"limits\":{\"mem\":1}}", "limits.mem: unknown field");
	expect("{\"\\nv\":{\"\":\"\"}}", "?v: unknown field"); /* found by the fuzzer */
	expect("{\"env\":{\"\\u001b[31m\":1}}", "env.?[31m: must be a string");
	expect("{\"image\":5}", "image: must be a string");
	expect("{\"cmd\":[]}", "cmd: must be an array of 1 to 256 strings");
	expect("{\"cmd\":[\"a\",1]}", "cmd[1]: must be a string");
	expect("{\"env\":{\"A\":1}}", "env.A: must be a string");
	expect("{\"env\":{\"A=B\":\"x\"}}", "env.A=B: must be a string");
	expect("{\"limits\":{\"memory\":\"lots\"}}", "limits.memory: invalid value");
	expect("{\"limits\":{\"memory\":1024}}", "limits.memory: at least 4M");
	expect("{\"limits\":{\"memory\":-1}}", "limits.memory: invalid value");
	expect("{\"limits\":{\"cpus\":0.0001}}", "limits.cpus: at most 3 decimals");
	expect("{\"limits\":{\"cpus\":2000}}", "limits.cpus: must be between");
	expect("{\"limits\":{\"cpus\":true}}", "limits.cpus: must be a number");
	expect("{\"limits\":{\"pids\":0}}", "limits.pids: must be an integer from 1");
	expect("{\"limits\":{\"timeout\":\"soon\"}}", "limits.timeout: invalid value");
	expect("{\"limits\":[]}", "limits: must be an object");
	expect("{\"net\":\"host\"}", "net: must be \"none\", \"loopback\", \"internet\"");
	expect("{\"workdir\":\"tmp\"}", "workdir: must be an absolute path");
	expect("{\"hostname\":\"a b\"}", "hostname: 1-63 characters");
	expect("{\"user\":\"root\"}", "user: must be \"UID[:GID]\"");
	expect("{\"user\":\"-1\"}", "user: must be");
	expect("{\"user_ns\":\"yes\"}", "user_ns: must be true or false");
	expect("{\"user_ns\":false}", "user_ns: every sandbox has a user namespace");
	expect("{\"gpus\":[1]}", "gpus[0]: must be a GPU id string");
	expect("{\"image\":\"a\\u0000b\"}",
	       "image: must be a string of at most 255 bytes without NUL");
	expect("{\"image\":\"a\",\"image\":\"b\"}", "invalid JSON");
	expect("{\"env\":{\"A\\u0000B\":\"x\"}}", "NUL byte in object key not supported");
}

TEST(exec_bodies)
{
	static const char b[] = "{\"cmd\":[\"cat\"],\"stdin\":\"a\\u0000b\",\"timeout\":\"30s\","
				"\"workdir\":\"/tmp\",\"env\":{\"X\":\"1\"}}";
	struct api_exec e;
	char *err = NULL;
	CHECK_EQ_INT(apispec_parse_exec(b, sizeof(b) - 1, &e, &err), 0);
	CHECK(!strcmp(e.cmd[0], "cat") && !e.cmd[1]);
	CHECK_EQ_INT(e.stdin_len, 3);
	CHECK(!memcmp(e.stdin_data, "a\0b", 3)); /* stdin may carry NUL bytes */
	CHECK_EQ_INT(e.timeout_ns, 30000000000ULL);
	CHECK(!strcmp(e.env[0], "X=1"));
	api_exec_clear(&e);
	CHECK_EQ_INT(apispec_parse_exec("{}", 2, &e, &err), -EINVAL);
	CHECK_STR_CONTAINS(err, "cmd: required");
	free(err);
	static const char b3[] = "{\"cmd\":[\"x\"],\"tty\":1}";
	CHECK_EQ_INT(apispec_parse_exec(b3, strlen(b3), &e, &err), -EINVAL);
	CHECK_STR_CONTAINS(err, "tty: unknown field");
	free(err);
}

TEST(net_internet_forms)
{
	static const char b[] = "{\"net\":{\"mode\":\"internet\",\"allow_out\":[\"203.0.113.0/24\","
				"\"198.51.100.7\",\"API.Example.com\",\"*.pkg.example\"],"
				"\"deny_out\":[\"203.0.113.9/32\",\"0.0.0.0/0\"],\"ports\":[8080]},"
				"\"limits\":{\"net_rate\":\"100Mbit\"}}";
	struct api_create c;
	char *err = NULL;
	CHECK_EQ_INT(apispec_parse_create(b, sizeof(b) - 1, &c, &err), 0);
	CHECK(c.net == NET_INTERNET && c.netp.allow_list);
	CHECK_EQ_INT(c.netp.nallow, 2);
	CHECK_EQ_INT(c.netp.allow[0].prefix, 24);
	CHECK_EQ_INT(c.netp.allow[0].addr, htonl(0xcb007100));
	CHECK_EQ_INT(c.netp.allow[1].prefix, 32);
	CHECK(!strcmp(c.netp.allow_domains[0], "api.example.com"));
	CHECK(!strcmp(c.netp.allow_domains[1], "*.pkg.example") && !c.netp.allow_domains[2]);
	CHECK_EQ_INT(c.netp.ndeny, 2);
	CHECK_EQ_INT(c.netp.deny[1].prefix, 0);
	CHECK_EQ_INT(c.netp.nports, 1);
	CHECK_EQ_INT(c.netp.ports[0], 8080);
	CHECK_EQ_INT(c.netp.rate_bits, 100000000);
	/* The record's form of it, read back the same. */
	json_t *j = net_policy_json(&c.netp);
	char *s = json_dumps(j, JSON_COMPACT);
	CHECK_STR_CONTAINS(
		s, "\"allow_out\":[\"203.0.113.0/24\",\"198.51.100.7\",\"api.example.com\"");
	free(s);
	json_decref(j);
	api_create_clear(&c);
	/* A host's bits are dropped; the string form has no policy. */
	static const char b2[] = "{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"10.1.2.3/8\"]}}";
	CHECK_EQ_INT(apispec_parse_create(b2, sizeof(b2) - 1, &c, &err), 0);
	CHECK_EQ_INT(c.netp.deny[0].addr, htonl(0x0a000000));
	CHECK(!c.netp.allow_list);
	api_create_clear(&c);
	CHECK_EQ_INT(apispec_parse_create("{\"net\":\"internet\"}", 18, &c, &err), 0);
	CHECK(c.net == NET_INTERNET && !c.netp.allow_list && !c.netp.ndeny);
	api_create_clear(&c);
}

TEST(net_errors_name_the_entry)
{
	expect("{\"net\":\"intranet\"}", "net: must be");
	expect("{\"net\":{\"mode\":\"none\"}}", "net.mode");
	expect("{\"net\":{\"mode\":\"internet\",\"x\":1}}", "net.x: unknown field");
	expect("{\"net\":{\"mode\":\"internet\",\"allow_out\":[\"::1\"]}}",
	       "allow_out[0]: \"::1\": IPv6");
	expect("{\"net\":{\"mode\":\"internet\",\"allow_out\":[\"1.2.3.4\",\"300.1.1.1\"]}}",
	       "allow_out[1]: \"300.1.1.1\" is not");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"1.2.3.4/33\"]}}", "deny_out[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"010.1.1.1\"]}}", "deny_out[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"a..b\"]}}", "deny_out[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"-a.b\"]}}", "deny_out[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"a.*.b\"]}}", "deny_out[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":[\"localhost\"]}}", "deny_out[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"deny_out\":\"1.2.3.4\"}}", "must be an array");
	expect("{\"net\":{\"mode\":\"internet\",\"ports\":[0]}}", "net.ports[0]");
	expect("{\"net\":{\"mode\":\"internet\",\"ports\":[65536]}}", "net.ports[0]");
	expect("{\"net\":\"internet\",\"limits\":{\"net_rate\":\"fast\"}}", "limits.net_rate");
	expect("{\"net\":\"internet\",\"limits\":{\"net_rate\":\"1kbit\"}}", "limits.net_rate");
	expect("{\"net\":\"internet\",\"limits\":{\"net_rate\":\"200gbit\"}}", "limits.net_rate");
	expect("{\"net\":\"none\",\"limits\":{\"net_rate\":\"1mbit\"}}", "only for net");
	struct net_policy p = { .rate_bits = 5 };
	char *err = NULL;
	CHECK_EQ_INT(apispec_parse_network("{\"mode\":\"loopback\"}", 19, &p, &err), -EINVAL);
	CHECK_STR_CONTAINS(err, "cannot change");
	free(err);
	CHECK_EQ_INT(apispec_parse_network("{\"deny_out\":[\"1.2.3.4\"]}", 24, &p, &err), 0);
	CHECK(p.ndeny == 1 && p.rate_bits == 5 && !p.allow_list);
	net_policy_clear(&p);
}
