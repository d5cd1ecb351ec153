/* config: one declarative table of keys per program (PgBouncer's bouncer_params idea).
 * Values come from the defaults, then the config file (`key = value` lines, # comments; one file
 * serves every program: keys before any [section] apply to all, keys under [intake] only to
 * gridgov-intake, under [router] only to gridgov-router, and so on),
 * then the environment (GRIDGOV_<KEY upper-cased>), then --set key=value on the command line.
 * Ownership: a cfg_t owns copies of every value; cfg_destroy() frees it and NULLs the pointer. */
#ifndef GRIDGOV_CONFIG_H
#define GRIDGOV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { CFG_STR, CFG_INT, CFG_BOOL } cfg_type_t;

typedef struct {
    const char *name;  /* lower_snake_case */
    cfg_type_t type;
    const char *def;   /* default as text; NULL = unset */
    long min, max;     /* for CFG_INT */
    const char *help;
} cfg_key_t;

typedef struct cfg cfg_t;

/* keys must outlive the cfg (a static table). */
cfg_t *cfg_new(const cfg_key_t *keys, size_t nkeys);
void cfg_destroy(cfg_t **self);

/* Each returns false with a reason in err on an unknown key or a bad value. */
bool cfg_set(cfg_t *self, const char *name, const char *value, char *err, size_t errsz)
    __attribute__((warn_unused_result));
/* The [section] of a shared file this program reads (cfg_from_args sets it from the program
 * name: gridgov-intake -> intake). */
void cfg_set_section(cfg_t *self, const char *section);
bool cfg_load_file(cfg_t *self, const char *path, char *err, size_t errsz) __attribute__((warn_unused_result));
bool cfg_load_env(cfg_t *self, char *err, size_t errsz) __attribute__((warn_unused_result));

/* Lookups of a key that is not in the table abort: that is a programming error. */
const char *cfg_str(const cfg_t *self, const char *name); /* NULL when unset */
long cfg_int(const cfg_t *self, const char *name);
bool cfg_bool(const cfg_t *self, const char *name);
/* True when the program's table declares the key (for code shared by programs whose tables differ). */
bool cfg_has(const cfg_t *self, const char *name);

void cfg_print_help(const cfg_key_t *keys, size_t nkeys, FILE *out);

/* The command line every gridgov binary shares:
 *   --help, --version, --config FILE, --set key=value (repeatable).
 * Returns 0 to go on, 1 when the program should exit 0 (help/version printed),
 * -1 on a usage error (printed). Options stop at the first other argument; *rest_index is
 * its index (argc when there is none). */
int cfg_from_args(cfg_t *self, const char *prog, const char *summary, int argc, char **argv,
                  int *rest_index) __attribute__((warn_unused_result));

#endif
