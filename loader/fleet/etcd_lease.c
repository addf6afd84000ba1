// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Leases on the etcd v3 JSON gateway (loader/fleet/etcd_lease.h). */
#include <errno.h>

#include <json-c/json.h>

#include "fleet/etcd.h"
#include "fleet/etcd_lease.h"

static json_object *id_request(int64_t id)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "ID", json_object_new_int64(id));
	return req;
}

int ps_etcd_lease_grant(struct ps_etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl, struct ps_error *error)
{
	json_object *req = json_object_new_object(), *ans;
	int err;

	json_object_object_add(req, "TTL", json_object_new_int64(ttl));
	err = ps_etcd_post(c, "/v3/lease/grant", req, &ans, error);
	if (err)
		return err;
	*id = ps_etcd_json_i64(ans, "ID");
	if (granted_ttl)
		*granted_ttl = ps_etcd_json_i64(ans, "TTL");
	json_object_put(ans);
	if (!*id)
		return ps_fail(error, EPROTO, "etcd /v3/lease/grant: no lease in the answer");
	return 0;
}

int ps_etcd_lease_keepalive(struct ps_etcd *c, int64_t id, int64_t *ttl, struct ps_error *error)
{
	json_object *ans, *result;
	int64_t left;
	int err = ps_etcd_post(c, "/v3/lease/keepalive", id_request(id), &ans, error);

	if (err)
		return err;
	/*
	 * A stream of one: {"result": {"ID", "TTL"}}, no TTL when the lease is
	 * gone; a failure inside the stream comes with HTTP 200 as {"error": ...}
	 * (a follower that could not reach the leader): not a lost lease.
	 */
	if (!json_object_object_get_ex(ans, "result", &result)) {
		json_object *msg = NULL, *e;

		if (json_object_object_get_ex(ans, "error", &e))
			json_object_object_get_ex(e, "message", &msg);
		err = ps_fail(error, EIO, "etcd /v3/lease/keepalive: %s; the lease may still be alive, try again",
			      msg ? json_object_get_string(msg) : json_object_to_json_string(ans));
		json_object_put(ans);
		return err;
	}
	left = ps_etcd_json_i64(result, "TTL");
	json_object_put(ans);
	if (ttl)
		*ttl = left;
	if (left <= 0)
		return ps_fail(error, ENOENT, "etcd: lease %llx has expired; its keys are gone",
			       (unsigned long long)id);
	return 0;
}

int ps_etcd_lease_revoke(struct ps_etcd *c, int64_t id, struct ps_error *error)
{
	json_object *ans;
	int err = ps_etcd_post(c, "/v3/lease/revoke", id_request(id), &ans, error);

	if (!err)
		json_object_put(ans);
	return err;
}

int ps_etcd_lease_ttl(struct ps_etcd *c, int64_t id, int64_t *ttl, int64_t *granted, struct ps_error *error)
{
	json_object *ans;
	int err = ps_etcd_post(c, "/v3/lease/timetolive", id_request(id), &ans, error);

	if (err)
		return err;
	*ttl = ps_etcd_json_i64(ans, "TTL");
	if (granted)
		*granted = ps_etcd_json_i64(ans, "grantedTTL");
	json_object_put(ans);
	return 0;
}
