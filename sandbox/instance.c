// SPDX-License-Identifier: MIT
/* The instance name and the host paths it scopes (instance.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "instance.h"
#include "text.h"

static struct {
	bool set;
	char name[INSTANCE_NAME_MAX + 1];
	char cgroup[sizeof("sbx-") + INSTANCE_NAME_MAX];
	char pins[sizeof("/sys/fs/bpf/sbx-") + INSTANCE_NAME_MAX];
	char run[sizeof("/run/sbx/instance/") + INSTANCE_NAME_MAX];
	char scratch[sizeof("/run/sbx/instance//scratch") + INSTANCE_NAME_MAX];
	char layers[sizeof("/run/sbx/instance//layers") + INSTANCE_NAME_MAX];
} inst;

int instance_set(const char *name)
{
	if (name && name[0] && !text_is_name(name, INSTANCE_NAME_MAX))
		return -EINVAL;
	snprintf(inst.name, sizeof(inst.name), "%s", name ? name : "");
	snprintf(inst.cgroup, sizeof(inst.cgroup), "sbx%s%s", inst.name[0] ? "-" : "", inst.name);
	snprintf(inst.pins, sizeof(inst.pins), "/sys/fs/bpf/%s", inst.cgroup);
	snprintf(inst.run, sizeof(inst.run), "/run/sbx%s%s", inst.name[0] ? "/instance/" : "",
		 inst.name);
	snprintf(inst.scratch, sizeof(inst.scratch), "%s/scratch", inst.run);
	snprintf(inst.layers, sizeof(inst.layers), "%s/layers", inst.run);
	inst.set = true;
	return 0;
}

/* The paths, set from SBX_INSTANCE on first use. An invalid SBX_INSTANCE cannot be
 * reported from here: it is the default, and the front-ends (sbx, sbxd) check the
 * variable and refuse it first. */
static const typeof(inst) *paths(void)
{
	if (!inst.set && instance_set(getenv("SBX_INSTANCE")) < 0)
		(void)instance_set(NULL);
	return &inst;
}

const char *instance_name(void)
{
	return paths()->name;
}

const char *instance_cgroup_parent(void)
{
	return paths()->cgroup;
}

const char *instance_pin_dir(void)
{
	return paths()->pins;
}

const char *instance_pin_path(char buf[static 256], const char *name)
{
	snprintf(buf, 256, "%s/%s", paths()->pins, name);
	return buf;
}

const char *instance_run_dir(void)
{
	return paths()->run;
}

const char *instance_scratch_dir(void)
{
	return paths()->scratch;
}

const char *instance_layer_dir(void)
{
	return paths()->layers;
}

static int dir_searchable(const char *path)
{
	if (mkdir(path, 0711) < 0 && (errno != EEXIST || chmod(path, 0711) < 0))
		return -errno;
	return 0;
}

int instance_run_dir_make(void)
{
	int r = dir_searchable("/run/sbx");
	if (r == 0 && paths()->name[0] && (r = dir_searchable("/run/sbx/instance")) == 0)
		r = dir_searchable(inst.run);
	return r;
}
