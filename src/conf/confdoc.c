/* Prints the configuration reference (doc/config.md) generated from the
 * schema; `make doc/config.md` runs it. */
#include <stdio.h>

#include "conf/conf.h"

int main(void)
{
	moon_conf_write_doc(stdout);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
