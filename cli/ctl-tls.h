/* SPDX-License-Identifier: Apache-2.0 */
/* `siloctl tls ...` (argv[0] = "tls"): local certificate making; returns the exit code. */
#pragma once

int ctl_tls_main(int argc, char **argv);
