/* Config text -> moon_conf_load_string: any input must load or fail with
 * messages, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct moon_diag diag = { .n = 0 };
	struct moon_conf *conf = NULL;
	if (moon_conf_load_string(text, "fuzz.yaml", &conf, &diag) == 0) {
		struct moon_diag restart = { .n = 0 };
		moon_conf_diff_restart(conf, conf, &restart);
		moon_diag_free(&restart);
	}
	moon_conf_free(conf);
	moon_diag_free(&diag);
	free(text);
	return 0;
}
