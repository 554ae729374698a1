/* SPDX-License-Identifier: Apache-2.0 */
/* Task and update ids: random (version 4) UUIDs in their 36-character text form. */
#pragma once

#define ID_UUID_LEN 36

/* Set *ret to a malloc'ed new UUID. -EIO when the kernel's random source fails. */
int id_uuid_new(char **ret);
