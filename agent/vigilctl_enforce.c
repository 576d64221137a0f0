/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl explain / unload: egress enforcement (docs/enforcement.md), by name (docs/dns.md). */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigilctl.h"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* ADDR, ADDR:PORT, [V6ADDR]:PORT, each optionally followed by /PROTO; a bare IPv6 address has no port */
static int parse_dst(const char *in, char *addr, size_t alen, long *port, const char **proto)
{
	char buf[128], *slash, *colon, *end;

	if (strlen(in) >= sizeof(buf))
		return -1;
	strcpy(buf, in);
	*port = -1;
	slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		*proto = in + (slash - buf) + 1;
	}
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close)
			return -1;
		*close = '\0';
		if (close[1] == ':') {
			*port = strtol(close + 2, &end, 10);
			if (!close[2] || *end)
				return -1;
		} else if (close[1]) {
			return -1;
		}
		snprintf(addr, alen, "%s", buf + 1);
	} else {
		colon = strchr(buf, ':');
		if (colon && colon == strrchr(buf, ':')) {
			*colon = '\0';
			*port = strtol(colon + 1, &end, 10);
			if (!colon[1] || *end)
				return -1;
		}
		snprintf(addr, alen, "%s", buf);
	}
	return *port > 65535 ? -1 : 0;
}

/* --dst NAME[:PORT]: the tenant's rules by name and the addresses the name taught it (dns.explain) */
static int explain_name(struct vgctl *c, const char *tenant, const char *name, long port, const char *proto)
{
	json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", "dns.explain", "tenant", tenant, "name", name);
	json_t *reply, *v;
	size_t i;
	int r;

	if (port >= 0)
		json_object_set_new(req, "port", json_integer(port));
	if (proto)
		json_object_set_new(req, "proto", json_string(proto));
	if ((r = vgctl_call(c, req, &reply)))
		return r;
	if (!vgctl_print_json(c, reply)) {
		printf("%s -> %s", str(reply, "tenant"), str(reply, "name"));
		if (json_object_get(reply, "port"))
			printf(" port %lld/%s", (long long)json_integer_value(json_object_get(reply, "port")),
			       str(reply, "proto"));
		printf(": %s\n", str(reply, "decision"));
		if (json_object_get(reply, "answer"))
			printf("  no rule by name matches: lookups are answered %s\n", str(reply, "answer"));
		json_array_foreach(json_object_get(reply, "rules"), i, v) {
			char *ports = json_dumps(json_object_get(v, "ports"), JSON_COMPACT);

			printf("  rule %lld of %s: %s %s ports %s%s\n", (long long)json_integer_value(json_object_get(v, "id")),
			       str(v, "from"), str(v, "pattern"), str(v, "proto"),
			       json_array_size(json_object_get(v, "ports")) ? ports : "all",
			       json_is_true(json_object_get(v, "covers")) ? "" : " (does not cover this port)");
			free(ports);
		}
		if (!json_array_size(json_object_get(reply, "learned")) && !json_object_get(reply, "answer"))
			printf("  no address learned now (none looked up since vigild started, or expired)\n");
		json_array_foreach(json_object_get(reply, "learned"), i, v)
			printf("  learned %s (rule %lld), expires in %llds\n", str(v, "address"),
			       (long long)json_integer_value(json_object_get(v, "rule_id")),
			       (long long)json_integer_value(json_object_get(v, "expires_in_s")));
		printf("  policy version %lld\n", (long long)json_integer_value(json_object_get(reply, "policy_version")));
	}
	json_decref(reply);
	return 0;
}

static bool is_address(const char *s)
{
	uint8_t a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int cmd_explain(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "tenant", required_argument, NULL, 't' },
					      { "dst", required_argument, NULL, 'd' },
					      { "json", no_argument, NULL, 'j' },
					      { NULL, 0, NULL, 0 } };
	const char *tenant = NULL, *dst = NULL, *proto = NULL;
	char addr[128];
	long port;
	json_t *req, *reply, *rule;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "t:d:j", opts, NULL)) != -1) {
		if (o == 't')
			tenant = optarg;
		else if (o == 'd')
			dst = optarg;
		else if (o == 'j')
			c->json = true;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (!tenant || !dst || optind != argc || parse_dst(dst, addr, sizeof(addr), &port, &proto) < 0) {
		vgctl_error("usage: vigilctl explain --tenant NAME|host --dst ADDR|DNSNAME[:PORT][/tcp|udp|icmp|N] [--json]"
			    " (IPv6 with a port: [ADDR]:PORT)");
		return VGCTL_EXIT_USAGE;
	}
	if (!is_address(addr))
		return explain_name(c, tenant, addr, port, proto);
	req = json_pack("{s:s, s:s, s:s}", "cmd", "enforce.explain", "tenant", tenant, "dst", addr);
	if (port >= 0)
		json_object_set_new(req, "port", json_integer(port));
	if (proto)
		json_object_set_new(req, "proto", json_string(proto));
	if ((r = vgctl_call(c, req, &reply)))
		return r;
	if (!vgctl_print_json(c, reply)) {
		printf("%s -> %s port %lld/%s: %s (%s, mode %s)\n", str(reply, "tenant"), str(reply, "dst"),
		       (long long)json_integer_value(json_object_get(reply, "port")), str(reply, "proto"),
		       str(reply, "decision"), str(reply, "verdict"), str(reply, "mode"));
		rule = json_object_get(reply, "rule");
		if (rule) {
			char *ports = json_dumps(json_object_get(rule, "ports"), JSON_COMPACT);

			printf("  rule %lld of %s: %s %s ports %s\n", (long long)json_integer_value(json_object_get(rule, "id")),
			       str(rule, "from"), str(rule, "cidr"), str(rule, "proto"),
			       json_array_size(json_object_get(rule, "ports")) ? ports : "all");
			free(ports);
		}
		if (json_object_get(reply, "owner_tenant"))
			printf("  owned by tenant %s\n", str(reply, "owner_tenant"));
		if (json_object_get(reply, "matched_prefix"))
			printf("  matched %s\n", str(reply, "matched_prefix"));
		if (json_object_get(reply, "connect_rate"))
			printf("  new connections limited to %lld/s, burst %lld (connect_rate): beyond it %s\n",
			       (long long)json_integer_value(json_object_get(json_object_get(reply, "connect_rate"), "per_second")),
			       (long long)json_integer_value(json_object_get(json_object_get(reply, "connect_rate"), "burst")),
			       !strcmp(str(reply, "mode"), "audit") ? "would_deny" : "deny (deny_connect_rate)");
		printf("  policy version %lld\n", (long long)json_integer_value(json_object_get(reply, "policy_version")));
	}
	json_decref(reply);
	return 0;
}

static int cmd_unload(struct vgctl *c, int argc, char **argv)
{
	json_t *reply, *v;
	size_t i;
	int r;

	if (argc > 1) {
		vgctl_error("unload takes no arguments");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "enforce.unload"), &reply)))
		return r;
	if (!vgctl_print_json(c, reply)) {
		printf("egress enforcement unloaded: programs detached, pins under %s removed\n", str(reply, "bpffs_dir"));
		json_array_foreach(json_object_get(reply, "removed"), i, v)
			printf("  removed %s\n", json_string_value(v));
		printf("nothing is enforced until vigild restarts\n");
	}
	json_decref(reply);
	return 0;
}

const struct vgctl_cmd vgctl_enforce_cmds[] = {
	{ "explain", "--tenant NAME --dst ADDR|DNSNAME[:PORT][/PROTO]", "why a tenant may or may not reach a destination",
	  cmd_explain },
	{ "unload", "", "detach and unpin egress enforcement (admin; audited)", cmd_unload },
	{ NULL, NULL, NULL, NULL },
};
