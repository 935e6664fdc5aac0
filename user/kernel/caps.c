// SPDX-License-Identifier: GPL-2.0-only
/* capget(2), without libcap: the effective set, checked per command. */
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "core/exit.h"
#include "kernel/caps.h"

uint64_t tk_caps_effective(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (uint64_t)data[1].effective << 32 | data[0].effective;
}

int tk_check_caps(enum tk_cmd cmd, bool enforces)
{
	/* root's files are root's to reach; any other uid needs
	 * CAP_DAC_OVERRIDE for them (core/caps.c) */
	struct tk_caps_ask a = { .cmd = cmd, .enforces = enforces, .owner = geteuid() == 0 };
	char line[256];

	if (!tk_caps_explain(&a, tk_caps_effective(), line, sizeof(line)))
		return 0;
	return tk_error("%s", line);
}
