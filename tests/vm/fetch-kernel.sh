#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Placeholder replaced by the VM harness.
exit 0
