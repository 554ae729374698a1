/* SPDX-License-Identifier: Apache-2.0 */
/* Disk figures an agent advertises: io_uring calibration cached in the state dir, config overrides. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/event-loop.h"
#include "common/macro.h"
#include "silo/protocol.h"

/*
 * Each offered disk gets four figures (read/write bandwidth in bytes/s, read/write IOPS) and a
 * class. A figure comes from the agent config when the operator set it there
 * ("disk-read-bps = nvme0n1:3200M"), else from the last calibration cached in
 * <state-dir>/calibration.json (valid while the disk keeps its device number and size), else
 * it is 0 (unknown: the master cannot place io limits of that kind on the disk).
 *
 * Calibration runs io_calibrate_disk() in a worker thread, because a measurement takes
 * seconds of blocking I/O and the agent's loop must keep serving; the thread reports through
 * an eventfd on the loop. Reads only, unless the config allows writes for that disk
 * ("calibrate-write = nullb0" for the raw device, "calibrate-write = sdb:/srv/sdb" for a
 * scratch file in a directory on its filesystem).
 */

/* Config keys (struct calibration_options is embedded in the agent's options). */
struct calibration_options {
        bool calibrate;                 /* calibrate at first start (disks without cached figures) */
        double calibrate_seconds;       /* per figure */
        char **calibrate_write;         /* NAME or NAME:DIR */
        char **disk_read_bps;           /* NAME:QUANTITY */
        char **disk_write_bps;
        char **disk_read_iops;
        char **disk_write_iops;
        char **disk_class;              /* NAME:CLASS */
};

/* The config_option rows of these keys, for an options table; `base` is the offset of the
 * struct calibration_options inside the options struct. */
#define CALIBRATION_CONFIG_OPTIONS(base)                                                             \
        { "calibrate", CONFIG_BOOL, (base) + offsetof(struct calibration_options, calibrate), "true", \
          "BOOL", "measure disks without cached figures at start (reads only unless calibrate-write)", \
          0, 0 },                                                                                    \
        { "calibrate-seconds", CONFIG_DOUBLE,                                                        \
          (base) + offsetof(struct calibration_options, calibrate_seconds), "5", "SEC",             \
          "run time of each calibration figure", 0, 0 },                                             \
        { "calibrate-write", CONFIG_LIST, (base) + offsetof(struct calibration_options, calibrate_write), \
          NULL, "NAME[:DIR]",                                                                        \
          "also measure writes: on the raw unmounted device NAME, or on a scratch file in DIR", 0, 0 }, \
        { "disk-read-bps", CONFIG_LIST, (base) + offsetof(struct calibration_options, disk_read_bps), \
          NULL, "NAME:QTY", "set a disk's read bandwidth, bytes/s (nvme0n1:3200M); overrides calibration", \
          0, 0 },                                                                                    \
        { "disk-write-bps", CONFIG_LIST, (base) + offsetof(struct calibration_options, disk_write_bps), \
          NULL, "NAME:QTY", "set a disk's write bandwidth, bytes/s (nvme0n1:2100M)", 0, 0 },        \
        { "disk-read-iops", CONFIG_LIST, (base) + offsetof(struct calibration_options, disk_read_iops), \
          NULL, "NAME:QTY", "set a disk's random read IOPS (nvme0n1:650k)", 0, 0 },                  \
        { "disk-write-iops", CONFIG_LIST, (base) + offsetof(struct calibration_options, disk_write_iops), \
          NULL, "NAME:QTY", "set a disk's random write IOPS (nvme0n1:420k)", 0, 0 },                 \
        { "disk-class", CONFIG_LIST, (base) + offsetof(struct calibration_options, disk_class), NULL, \
          "NAME:CLASS", "set a disk's class (ssd, hdd, nvme, ...) instead of the detected one", 0, 0 }

/* Where one disk's figures come from. */
typedef enum calibration_source {
        CALIB_SOURCE_UNKNOWN,
        CALIB_SOURCE_CONFIG,
        CALIB_SOURCE_CALIBRATED,
} calibration_source;

struct calibration_figures {
        uint64_t value[_SILO_IO_LIMIT_MAX];             /* by silo_io_limit; 0 = unknown */
        calibration_source source[_SILO_IO_LIMIT_MAX];
        const char *class;                              /* override, or NULL (borrowed) */
        uint64_t calibrated_ms;                         /* when the cached measurement ran; 0 = never */
};

/* An offered disk, as the agent resolved it. */
struct calibration_target {
        const char *name;       /* "nullb0" */
        const char *path;       /* "/dev/nullb0" */
        dev_t devnum;
        uint64_t size;          /* bytes */
};

struct calibration_override {
        char *disk;
        uint64_t value[_SILO_IO_LIMIT_MAX];     /* by silo_io_limit; 0 = not set */
        char *class;
        char *write_dir;                        /* calibrate-write NAME:DIR */
        bool write;                             /* calibrate-write given for this disk */
};

/* Parse the disk-* and calibrate-write keys. Errors name the key and the value:
 * "disk-read-bps: 'nvme0n1:12Q': '12Q' is not a quantity". */
int calibration_overrides_parse(const struct calibration_options *o, struct calibration_override **ret,
                                size_t *ret_n, char **ret_error);
struct calibration_override *calibration_overrides_free(struct calibration_override *v, size_t n);


struct calibration;
typedef void (*calibration_done_fn)(struct calibration *c, void *userdata);

/* Parse the options, check that every override names an offered disk, load the cache
 * (a missing or unreadable cache only means "not calibrated yet"). */
int calibration_new(const struct calibration_options *o, const char *cache_path,
                    const struct calibration_target *disks, size_t n_disks, struct calibration **ret,
                    char **ret_error);
struct calibration *calibration_free(struct calibration *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct calibration *, calibration_free)

/* The effective figures of a disk: config over cache over unknown. -ENOENT for a disk that is
 * not offered. */
int calibration_get(const struct calibration *c, const char *disk, struct calibration_figures *ret);
/* The figure source a registration reports: "config" when the operator set every known
 * figure, else "calibrated" (protocol: "calibrated" | "config"). */
const char *calibration_disk_source(const struct calibration_figures *f);

/* Disks that have no cached measurement for their current device and size and whose figures
 * are not all configured: what a first start calibrates. */
size_t calibration_missing(const struct calibration *c, const char ***ret_names);

/* Start measuring `names` (NULL = every offered disk) in the background; `done` runs on the
 * loop when every disk was measured (or failed). -EBUSY when a calibration already runs,
 * -ENOENT with *ret_error for a name that is not offered. */
int calibration_start(struct calibration *c, struct event_loop *loop, const char *const *names,
                      size_t n_names, calibration_done_fn done, void *userdata, char **ret_error);

/* {"running": bool, "disks": {name: {"state", "error", "calibrated_ms", "measurement"}}} */
json_t *calibration_status_json(const struct calibration *c);
/* Fill read_bps/write_bps/read_iops/write_iops/source (and class when overridden) of a disk
 * object, plus "figures": {name: {"value", "source"}} detail. */
int calibration_disk_json_annotate(const struct calibration *c, const char *disk, json_t *obj);
