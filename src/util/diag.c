#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/diag.h"
#include "util/log.h"

void moon_diag_add(struct moon_diag *d, const char *file, unsigned line, unsigned column,
		   const char *fmt, ...)
{
	if (d->n == MOON_DIAG_MAX) {
		d->dropped++;
		return;
	}
	char where[512] = "";
	if (file && line && column)
		snprintf(where, sizeof(where), "%s:%u:%u: ", file, line, column);
	else if (file && line)
		snprintf(where, sizeof(where), "%s:%u: ", file, line);
	else if (file)
		snprintf(where, sizeof(where), "%s: ", file);
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	char *msg;
	if (asprintf(&msg, "%s%s", where, what) < 0) {
		d->dropped++;
		return;
	}
	d->msgs[d->n++] = msg;
}

void moon_diag_log(const struct moon_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		moon_log(MOON_LOG_ERR, MOON_SYS_CONF, "%s", d->msgs[i]);
	if (d->dropped)
		moon_log(MOON_LOG_ERR, MOON_SYS_CONF, "... and %zu more errors", d->dropped);
}

void moon_diag_free(struct moon_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	d->n = 0;
	d->dropped = 0;
}
