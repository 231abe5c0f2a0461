/*
 * preload.c
 *		Preloaded right after the ASan runtime into a PostgreSQL server that
 *		is not itself instrumented, to load an ASan+UBSan build of crm into
 *		it (test/scripts/sanitizers.sh).  It fixes two problems of that setup.
 *
 * 1. The postmaster hangs at startup.  A preloaded libasan.so runs its
 *    constructor after those of the server's other libraries.  The
 *    constructors of libgpg-error and gnutls call bindtextdomain(), which
 *    takes glibc's gettext lock for writing and then calls malloc(); that
 *    first malloc() initialises ASan lazily, ASan's initialisation calls
 *    dlerror(), and dlerror() takes and releases the same lock from inside.
 *    The lock is left corrupted and the postmaster's own bindtextdomain()
 *    waits on it forever.  Here bindtextdomain() is interposed so that its
 *    first call allocates once before entering glibc: ASan initialises
 *    outside the lock.
 *
 * 2. UBSAN_OPTIONS is ignored.  libubsan.so comes in with crm.so and
 *    initialises at the first report, in a backend.  The sanitizer runtimes
 *    read their options from /proc/self/environ, i.e. from the original
 *    environment block, which the postmaster has overwritten with its process
 *    title (ps display) by then.  UBSan also asks __ubsan_default_options()
 *    for options; this definition comes first in the symbol search order and
 *    returns UBSAN_OPTIONS as getenv() sees it (PostgreSQL keeps a copy of
 *    the environment that getenv() still reads).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

char	   *bindtextdomain(const char *domainname, const char *dirname);
const char *__ubsan_default_options(void);

/* glibc's bindtextdomain(), with the ASan runtime initialised first. */
char *
bindtextdomain(const char *domainname, const char *dirname)
{
	static char *(*real_bindtextdomain) (const char *, const char *);

	if (real_bindtextdomain == NULL)
	{
		/* volatile: the compiler must not drop the malloc/free pair */
		void	   *volatile p = malloc(1);

		free(p);
		real_bindtextdomain = (char *(*) (const char *, const char *))
			dlsym(RTLD_NEXT, "bindtextdomain");
	}
	return real_bindtextdomain(domainname, dirname);
}

/* UBSan's options, from the environment PostgreSQL keeps. */
const char *
__ubsan_default_options(void)
{
	const char *options = getenv("UBSAN_OPTIONS");

	return options != NULL ? options : "";
}
