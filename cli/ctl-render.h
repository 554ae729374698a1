/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's human output: tables for lists, aligned key/value trees for objects. */
#pragma once

#include <jansson.h>

void ctl_render_tree(const json_t *v);
void ctl_render_task(const json_t *v);
void ctl_render_tasks(const json_t *v);
void ctl_render_agents(const json_t *v);
void ctl_render_devices(const json_t *v);
void ctl_render_isolation(const json_t *v);

/* "1.5 GiB", "200 MB/s"-style display of a byte count (binary units); not a parseable quantity. */
void ctl_format_bytes(double v, char *buf, size_t n);
