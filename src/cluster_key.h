/*
 * cluster_key.h
 *		The cluster key and the SET LOCAL that carries a signed value to the
 *		Citus workers (cluster_key.c), for cluster.c and cluster_purge.c.
 */
#ifndef TROVELLA_CLUSTER_KEY_H
#define TROVELLA_CLUSTER_KEY_H

#include "postgres.h"

#include "datatype/timestamp.h"

#define CLUSTER_KEY_ID_LEN	8		/* bytes of the key id, shown in hex */
#define CLUSTER_MAC_LEN		32		/* SHA-256 */

extern void ClusterKeyInit(void);

/* Whether this backend signs for Citus workers: Citus loaded, a key file configured. */
extern bool trovella_cluster_signs(void);

/* When a value signed now expires: trovella.signed_context_lifetime from now. */
extern TimestampTz trovella_cluster_signature_expiry(void);

/*
 * Read the key file once; false, with *problem saying why (never the key),
 * when it cannot be used.  Raises no error: check hooks call it.
 */
extern bool trovella_cluster_load_key(const char **problem);

/* The id of this node's key, in hex: names it, reveals nothing of it. */
extern const char *trovella_cluster_key_id(void);

/* HMAC-SHA256 under the key of the parts, each with its NUL. */
extern bool trovella_cluster_hmac(const char *const *parts, int nparts,
								  uint8 mac[CLUSTER_MAC_LEN]);

/* Hex digits in lower case only, as trovella writes them; a MAC decoded so. */
extern bool trovella_cluster_lower_hex(const char *text, size_t len);
extern bool trovella_cluster_decode_mac(const char *hex, size_t len, uint8 mac[CLUSTER_MAC_LEN]);

/* SET LOCAL name TO value, carried by Citus to this transaction's workers. */
extern void trovella_cluster_set_local(const char *name, const char *value);

/* Whether this backend is running its own trovella_cluster_set_local. */
extern bool trovella_cluster_signing(void);

/* For trovella.health: a key configured here?, and why it cannot be used (NULL: it can). */
extern const char *trovella_cluster_key_problem(bool *configured);

#endif							/* TROVELLA_CLUSTER_KEY_H */
