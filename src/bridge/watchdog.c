#include <pthread.h>
#include <time.h>

#include "bridge/watchdog.h"
#include "util/log.h"
#include "util/time.h"

#define PERIOD_MS 100
#define REPEAT_MS 10000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct moon_wd_slot *slots;
static unsigned nslots;
static _Atomic unsigned stuck_now;

static void check(struct moon_wd_slot *s, uint32_t elapsed, unsigned *stuck)
{
	uint32_t e = atomic_load_explicit(&s->enter, memory_order_relaxed);
	uint32_t l = atomic_load_explicit(&s->leave, memory_order_relaxed);
	if (e == l || e != s->seen) {
		s->seen = e;
		s->busy_ms = 0;
		s->reported_ms = 0;
		return;
	}
	s->busy_ms += elapsed;
	if (s->busy_ms < s->stuck_ms)
		return;
	(*stuck)++;
	if (s->reported_ms && s->busy_ms - s->reported_ms < REPEAT_MS)
		return;
	char what[256] = "a Lua state";
	if (s->describe)
		s->describe(s->arg, what, sizeof(what));
	moon_err(POLICY, "%s has been running for %u ms without returning; it cannot be "
		 "interrupted (a JIT-compiled loop ignores the time budget) and its worker "
		 "answers nothing meanwhile", what, s->busy_ms);
	s->reported_ms = s->busy_ms;
	atomic_fetch_add(&s->reports, 1);
}

static void *watchdog_main(void *arg)
{
	pthread_mutex_lock(&lock);
	int64_t last = moon_now_ms();
	for (;;) {
		while (nslots == 0) {
			pthread_cond_wait(&cond, &lock);
			last = moon_now_ms();
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cond, &lock, &ts);
		int64_t now = moon_now_ms();
		uint32_t elapsed = (uint32_t)(now - last);
		last = now;
		unsigned stuck = 0;
		for (struct moon_wd_slot *s = slots; s; s = s->next)
			check(s, elapsed, &stuck);
		atomic_store(&stuck_now, stuck);
	}
	return NULL;
}

/* The thread is never joined: it sleeps while no slot exists and ends with
 * the process. */
static void start(void)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, watchdog_main, NULL) != 0)
		moon_err(POLICY, "cannot start the Lua watchdog thread: stuck policies go unreported");
	pthread_attr_destroy(&attr);
}

void moon_wd_register(struct moon_wd_slot *s)
{
	pthread_once(&once, start);
	pthread_mutex_lock(&lock);
	s->seen = atomic_load(&s->enter);
	s->busy_ms = 0;
	s->reported_ms = 0;
	s->next = slots;
	slots = s;
	nslots++;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

void moon_wd_unregister(struct moon_wd_slot *s)
{
	pthread_mutex_lock(&lock);
	for (struct moon_wd_slot **p = &slots; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			nslots--;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

unsigned moon_wd_stuck(void)
{
	return atomic_load(&stuck_now);
}
