/* SPDX-License-Identifier: Apache-2.0 */
/* What an I/O target is (file or block device, its size) and whether writing to a block
 * device would hurt someone: mounted (it or a partition of it), held by dm/md, or used as swap. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct io_target_info {
        bool is_blockdev;
        dev_t rdev;           /* block devices: major:minor */
        uint64_t size;        /* bytes (device capacity or file size) */
        uint32_t logical_bs;  /* block devices: logical sector size; files: 512 */
};

int io_target_stat(int fd, struct io_target_info *ret);

/* 0 when block device `rdev` and its partitions are not mounted (per /proc/self/mountinfo), not
 * held (sysfs holders/) and not active swap. Otherwise -EBUSY with the reason in *ret_error,
 * e.g. "7:1 (partition of 7:0) is mounted at /mnt". Other -errno when sysfs or /proc cannot be
 * read. */
int io_blockdev_check_unused(dev_t rdev, char **ret_error);

/* The block device node (/dev/NAME) for a major:minor, from sysfs uevent. */
int io_blockdev_path(dev_t rdev, char **ret_path);
