#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct cfg {
    const cfg_key_t *keys;
    size_t n;
    char **values;
    char section[64]; /* this program's [section] in a shared config file */
};

cfg_t *cfg_new(const cfg_key_t *keys, size_t nkeys)
{
    cfg_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->keys = keys;
    self->n = nkeys;
    self->values = calloc(nkeys, sizeof(char *));
    if (!self->values)
        log_oom();
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].def && !(self->values[i] = strdup(keys[i].def)))
            log_oom();
    return self;
}

void cfg_destroy(cfg_t **self)
{
    if (!self || !*self)
        return;
    for (size_t i = 0; i < (*self)->n; i++)
        free((*self)->values[i]);
    free((*self)->values);
    free(*self);
    *self = NULL;
}

static long find(const cfg_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->keys[i].name, name) == 0)
            return (long)i;
    return -1;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = true;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        *out = false;
    else
        return false;
    return true;
}

bool cfg_set(cfg_t *self, const char *name, const char *value, char *err, size_t errsz)
{
    long i = find(self, name);
    if (i < 0) {
        snprintf(err, errsz, "unknown configuration key '%s'", name);
        return false;
    }
    const cfg_key_t *k = &self->keys[i];
    if (k->type == CFG_INT) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->min || v > k->max) {
            snprintf(err, errsz, "%s must be a whole number from %ld to %ld, got '%s'", name, k->min, k->max,
                     value);
            return false;
        }
    } else if (k->type == CFG_BOOL) {
        bool b;
        if (!parse_bool(value, &b)) {
            snprintf(err, errsz, "%s must be true or false, got '%s'", name, value);
            return false;
        }
    }
    char *copy = strdup(value);
    if (!copy)
        log_oom();
    free(self->values[i]);
    self->values[i] = copy;
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

bool cfg_load_file(cfg_t *self, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "cannot open config file %s: %s", path, strerror(errno));
        return false;
    }
    char line[4096];
    int lineno = 0;
    bool ok = true, mine = true; /* keys before any [section] are everyone's */
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1]) {
                snprintf(err, errsz, "%s:%d: expected [section]", path, lineno);
                ok = false;
                break;
            }
            *close = '\0';
            mine = !strcmp(trim(s + 1), self->section);
            continue;
        }
        if (!mine)
            continue; /* another program's section */
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errsz, "%s:%d: expected key = value", path, lineno);
            ok = false;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        char why[256];
        if (!cfg_set(self, key, val, why, sizeof why)) {
            snprintf(err, errsz, "%s:%d: %s", path, lineno, why);
            ok = false;
        }
    }
    fclose(f);
    return ok;
}

bool cfg_load_env(cfg_t *self, char *err, size_t errsz)
{
    for (size_t i = 0; i < self->n; i++) {
        char env[128] = "GRIDGOV_";
        size_t j = strlen(env);
        for (const char *p = self->keys[i].name; *p && j + 1 < sizeof env; p++)
            env[j++] = (char)toupper((unsigned char)*p);
        env[j] = '\0';
        const char *v = getenv(env);
        if (v && !cfg_set(self, self->keys[i].name, v, err, errsz))
            return false;
    }
    return true;
}

static long must_find(const cfg_t *self, const char *name)
{
    long i = find(self, name);
    if (i < 0) {
        log_error("configuration key '%s' is not declared", name);
        abort();
    }
    return i;
}

const char *cfg_str(const cfg_t *self, const char *name) { return self->values[must_find(self, name)]; }

long cfg_int(const cfg_t *self, const char *name)
{
    const char *v = self->values[must_find(self, name)];
    return v ? strtol(v, NULL, 10) : 0;
}

bool cfg_bool(const cfg_t *self, const char *name)
{
    const char *v = self->values[must_find(self, name)];
    bool b = false;
    return v && parse_bool(v, &b) && b;
}

bool cfg_has(const cfg_t *self, const char *name) { return find(self, name) >= 0; }

void cfg_print_help(const cfg_key_t *keys, size_t nkeys, FILE *out)
{
    fprintf(out, "Configuration (file key, environment variable, default):\n");
    for (size_t i = 0; i < nkeys; i++) {
        char env[128] = "GRIDGOV_";
        size_t j = strlen(env);
        for (const char *p = keys[i].name; *p && j + 1 < sizeof env; p++)
            env[j++] = (char)toupper((unsigned char)*p);
        env[j] = '\0';
        fprintf(out, "  %-22s %-30s [%s]\n      %s\n", keys[i].name, env, keys[i].def ? keys[i].def : "",
                keys[i].help);
    }
}

void cfg_set_section(cfg_t *self, const char *section)
{
    snprintf(self->section, sizeof self->section, "%s", section ? section : "");
}

int cfg_from_args(cfg_t *self, const char *prog, const char *summary, int argc, char **argv, int *rest_index)
{
    if (!self->section[0])
        cfg_set_section(self, strncmp(prog, "gridgov-", 8) == 0 ? prog + 8 : prog);
    char err[512];
    const char *config_path = NULL;
    /* First pass: --help/--version/--config, so the file loads before env and --set. */
    for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            i++; /* its key=value is not the first positional argument */
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: %s [--config FILE] [--set key=value ...]\n%s\n\n", prog, summary);
            cfg_print_help(self->keys, self->n, stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("%s %s\n", prog, GRIDGOV_VERSION);
            return 1;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --config needs a file\n", prog);
                return -1;
            }
            config_path = argv[++i];
        }
    }
    if (!config_path)
        config_path = getenv("GRIDGOV_CONFIG");
    if (config_path && *config_path && !cfg_load_file(self, config_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    if (!cfg_load_env(self, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    int rest = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
        } else if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc || !strchr(argv[i + 1], '=')) {
                fprintf(stderr, "%s: --set needs key=value\n", prog);
                return -1;
            }
            char kv[1024];
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            char *eq = strchr(kv, '=');
            *eq = '\0';
            if (!cfg_set(self, kv, eq + 1, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", prog, err);
                return -1;
            }
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "%s: unknown option %s (try --help)\n", prog, argv[i]);
            return -1;
        } else {
            rest = i; /* the rest belongs to a subcommand */
            break;
        }
    }
    if (rest_index)
        *rest_index = rest;
    return 0;
}
