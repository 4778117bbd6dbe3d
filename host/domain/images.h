/* SPDX-License-Identifier: MIT */
/* The image store (images.c): STATE/images/ holds layers/HEX (unpacked, read-only,
 * each stored once and shared as an overlay lower), manifests/HEX.json (an image: its
 * layers and defaults; HEX is the manifest's SHA-256) and tmp/ (work in progress). The
 * table "images" names them: (tenant, name) -> id, where tenant "" is public (the
 * built-in images and what the host's admins publish). Imports and builds run as jobs.
 * Loop thread, except images_open. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct api_create;
struct image;
struct reply;
struct why;

/* Opens the store and takes in the built-in images (sbxd --images). */
int images_init(void);
const char *images_store_dir(void);

/* @req->image for @tenant (NULL: the host's admins) pinned to an id (req->image_id, and
 * "image_id" in @spec). A request already pinned (a restore's) keeps its id. */
int images_pin(const char *tenant, struct api_create *req, json_t *spec, struct why *why);
/* The id image @name pins for @tenant now, or NULL. */
const char *images_pinned_id(const char *tenant, const char *name);
/* The image a request runs: its pinned id, else its name among the built-ins. Any
 * thread. */
int images_open(const struct api_create *req, struct image **ret, char **ret_error);

/* Whose a request's things are: its tenant, or the host's admins' (NULL). */
const char *images_owner(const char *tenant);
/* A name of an image or template: 1-128 of a-z 0-9 . _ -, not first . or -. */
bool images_name_valid(const char *name);
json_t *images_list(const char *tenant);
int images_get(const char *tenant, const char *name, json_t **ret, struct why *why);
/* Removes the name; -EBUSY (naming them) while sandboxes or snapshots use the image. */
int images_delete(const char *tenant, const char *name, struct why *why);
/* POST /v1/images?name=N with an archive of @len bytes as the body (a docker-save tar,
 * or an OCI image layout as a tar): answered with the job once the body is in. */
int images_import(struct reply *rp, const char *tenant, const char *name, bool public_,
		  bool keep_setuid, int64_t len, struct why *why);
/* A recipe of images/ built into the store (the host's admins only). */
int images_build(struct reply *rp, const char *tenant, const char *recipe, const char *name,
		 struct why *why);
/* A slim image: only what sandbox @box_id (exited, created with "record_files") opened,
 * taken from its image, with that image's defaults. */
int images_slim(struct reply *rp, const char *tenant, const char *name, const char *box_id,
		struct why *why);
int images_job(const char *tenant, const char *id, json_t **ret, struct why *why);
/* The job's record as a stream: a line each time it changes, until it ends. */
int images_job_follow(struct reply *rp, const char *tenant, const char *id, struct why *why);
/* Removes manifests and layers that no name, sandbox or snapshot holds. */
void images_collect(void);

/* Templates (templates.c): a name for a snapshot of a started, ready workload, per
 * tenant. POST /v1/templates {"name", "snapshot"}; a sandbox from one is a restore. */
struct snap;
json_t *templates_list(const char *tenant);
int templates_get(const char *tenant, const char *name, json_t **ret, struct why *why);
int templates_add(const char *tenant, const char *body, size_t len, json_t **ret, struct why *why);
/* Removes the template and its snapshot; answers @rp. */
int templates_delete(struct reply *rp, const char *tenant, const char *name, struct why *why);
/* A new sandbox restored from the template's snapshot, answered on @rp. */
int templates_launch(struct reply *rp, const char *tenant, const char *name, struct why *why);
/* The tick: warm pools kept at their size. */
void templates_tick(int64_t mono);
/* The template holding snapshot @s, or NULL. */
const char *templates_holding(const struct snap *s);
