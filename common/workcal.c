#include "workcal.h"

#include "civil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

#define US_PER_SEC INT64_C(1000000)
#define DAY_US (INT64_C(86400) * US_PER_SEC)
#define MAX_OFFSET_MIN (23 * 60 + 59)
/* 0001-01-01T00:00:00Z and the last microsecond of 9999-12-31 (UTC). */
#define MIN_US (INT64_C(-719162) * DAY_US)
#define MAX_US (INT64_C(2932897) * DAY_US - 1)

/* One listed date: its day number (days since 1970-01-01) and what it does to the count of
 * working days relative to the weekday rule. */
typedef struct {
    int64_t day;
    bool work;   /* listed `work` (else `off`) */
    int delta;   /* +1: weekend made working; -1: weekday made off; 0: weekend listed off */
} mark_t;

struct workcal {
    int offset_min;
    int nperiods;
    int64_t pstart[WORKCAL_MAX_PERIODS]; /* us since local midnight */
    int64_t pend[WORKCAL_MAX_PERIODS];
    int64_t day_us;        /* working us per working day, > 0 */
    mark_t *marks;         /* sorted by day, no duplicates */
    size_t nmarks;
    int64_t *prefix;       /* prefix[i] = sum of marks[0..i).delta; nmarks + 1 entries */
    int64_t noff_weekday;  /* marks with delta -1 */
    int *years;            /* loaded years, sorted */
    size_t nyears;
};

/* ---- date arithmetic (proleptic Gregorian) ---- */

static bool valid_date(int64_t y, int m, int d)
{
    return m >= 1 && m <= 12 && d >= 1 && d <= civil_days_in_month(y, m);
}


/* Monday-Friday days in [-3, n) (day -3 is Monday 1969-12-29); negative for n < -3. */
static int64_t weekdays_before(int64_t n)
{
    int64_t m = n + 3;
    int64_t weeks = civil_floor_div(m, 7);
    int64_t rem = m - weeks * 7;
    return weeks * 5 + (rem < 5 ? rem : 5);
}

static const char *weekday_name(int64_t day)
{
    static const char *names[7] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
    return names[civil_weekday(day)];
}

/* ---- lookups ---- */

/* Index of the first mark with day >= day. */
static size_t lower_bound(const workcal_t *c, int64_t day)
{
    size_t lo = 0, hi = c->nmarks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->marks[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool working_day(const workcal_t *c, int64_t day)
{
    size_t i = lower_bound(c, day);
    if (i < c->nmarks && c->marks[i].day == day)
        return c->marks[i].work;
    return civil_weekday(day) < 5;
}

/* Working days in [a, b), a <= b. */
static int64_t working_days(const workcal_t *c, int64_t a, int64_t b)
{
    return weekdays_before(b) - weekdays_before(a) + c->prefix[lower_bound(c, b)] - c->prefix[lower_bound(c, a)];
}

/* Working us of day within [a, b) (us since local midnight). */
static int64_t work_in_day(const workcal_t *c, int64_t day, int64_t a, int64_t b)
{
    if (a >= b || !working_day(c, day))
        return 0;
    int64_t sum = 0;
    for (int i = 0; i < c->nperiods; i++) {
        int64_t s = c->pstart[i] > a ? c->pstart[i] : a;
        int64_t e = c->pend[i] < b ? c->pend[i] : b;
        if (e > s)
            sum += e - s;
    }
    return sum;
}

static int64_t clamp_us(int64_t us) { return us < MIN_US ? MIN_US : us > MAX_US ? MAX_US : us; }

/* ---- lifecycle ---- */

workcal_t *workcal_new(void)
{
    workcal_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->prefix = calloc(1, sizeof *self->prefix);
    if (!self->prefix)
        log_oom();
    self->offset_min = WORKCAL_DEFAULT_UTC_OFFSET;
    char err[160];
    if (!workcal_set_hours(self, WORKCAL_DEFAULT_HOURS, err, sizeof err)) {
        log_error("workcal: default hours rejected: %s", err); /* a bug in this file */
        abort();
    }
    return self;
}

void workcal_destroy(workcal_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->marks);
    free((*self)->prefix);
    free((*self)->years);
    free(*self);
    *self = NULL;
}

/* ---- hours ---- */

static void skip_spaces(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* H:MM or HH:MM, hour 0-24 (24 only as 24:00), minute 0-59 -> minutes since midnight. */
static bool parse_hhmm(const char **p, int *out)
{
    const char *s = *p;
    int h = 0, n = 0;
    while (n < 2 && s[n] >= '0' && s[n] <= '9') {
        h = h * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0 || s[n] != ':' || s[n + 1] < '0' || s[n + 1] > '9' || s[n + 2] < '0' || s[n + 2] > '9')
        return false;
    int m = (s[n + 1] - '0') * 10 + (s[n + 2] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *out = h * 60 + m;
    *p = s + n + 3;
    return true;
}

/* One "HH:MM-HH:MM" item, spaces allowed around the dash. */
static bool parse_period(const char **p, int *s, int *e)
{
    if (!parse_hhmm(p, s))
        return false;
    skip_spaces(p);
    if (**p != '-')
        return false;
    (*p)++;
    skip_spaces(p);
    return parse_hhmm(p, e);
}

bool workcal_set_hours(workcal_t *self, const char *spec, char *err, size_t errsz)
{
    int start[WORKCAL_MAX_PERIODS], end[WORKCAL_MAX_PERIODS];
    int n = 0;
    const char *text = spec ? spec : "";
    const char *p = text;
    skip_spaces(&p);
    if (*p == '\0') {
        snprintf(err, errsz, "working hours are empty: give periods like \"%s\"", WORKCAL_DEFAULT_HOURS);
        return false;
    }
    for (;;) {
        skip_spaces(&p);
        int s, e;
        if (!parse_period(&p, &s, &e)) {
            snprintf(err, errsz, "working hours \"%s\": period %d is not HH:MM-HH:MM (00:00 to 24:00)", text,
                     n + 1);
            return false;
        }
        if (e <= s) {
            snprintf(err, errsz, "working hours \"%s\": period %d (%02d:%02d-%02d:%02d) does not end after it starts",
                     text, n + 1, s / 60, s % 60, e / 60, e % 60);
            return false;
        }
        if (n > 0 && s < end[n - 1]) {
            snprintf(err, errsz,
                     "working hours \"%s\": period %d starts at %02d:%02d, before period %d ends (%02d:%02d); "
                     "periods must be in order and must not overlap",
                     text, n + 1, s / 60, s % 60, n, end[n - 1] / 60, end[n - 1] % 60);
            return false;
        }
        if (n == WORKCAL_MAX_PERIODS) {
            snprintf(err, errsz, "working hours \"%s\": more than %d periods", text, WORKCAL_MAX_PERIODS);
            return false;
        }
        start[n] = s;
        end[n] = e;
        n++;
        skip_spaces(&p);
        if (*p == '\0')
            break;
        if (*p != ',') {
            snprintf(err, errsz, "working hours \"%s\": expected ',' after period %d", text, n);
            return false;
        }
        p++;
    }
    self->nperiods = n;
    self->day_us = 0;
    for (int i = 0; i < n; i++) {
        self->pstart[i] = start[i] * 60 * US_PER_SEC;
        self->pend[i] = end[i] * 60 * US_PER_SEC;
        self->day_us += self->pend[i] - self->pstart[i];
    }
    return true;
}

bool workcal_set_utc_offset(workcal_t *self, int minutes)
{
    if (minutes < -MAX_OFFSET_MIN || minutes > MAX_OFFSET_MIN)
        return false;
    self->offset_min = minutes;
    return true;
}

/* ---- calendar files ---- */

/* What one file says about its year, indexed by day of year. */
typedef struct {
    int year;
    unsigned char kind[366]; /* 0 unlisted, 1 off, 2 work */
    int line[366];
} year_data_t;

static bool is_year_file(const char *name, int *year)
{
    for (int i = 0; i < 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    if (strcmp(name + 4, ".txt") != 0)
        return false;
    *year = (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 + (name[3] - '0');
    return true;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_mark(const void *a, const void *b)
{
    int64_t x = ((const mark_t *)a)->day, y = ((const mark_t *)b)->day;
    return (x > y) - (x < y);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses one line (NUL-terminated, line end removed) into yd; false with err on a bad line. */
static bool parse_line(year_data_t *yd, const char *path, int lineno, const char *line, char *err, size_t errsz)
{
    const char *p = line;
    skip_spaces(&p);
    if (*p == '\0' || *p == '#')
        return true;
    int y, m, d;
    if (!(digits(p, 4, &y) && p[4] == '-' && digits(p + 5, 2, &m) && p[7] == '-' && digits(p + 8, 2, &d) &&
          (p[10] == ' ' || p[10] == '\t' || p[10] == '\0'))) {
        snprintf(err, errsz, "%s:%d: expected \"YYYY-MM-DD off|work [name]\", a # comment or a blank line", path,
                 lineno);
        return false;
    }
    if (!valid_date(y, m, d)) {
        snprintf(err, errsz, "%s:%d: %.10s is not a date", path, lineno, p);
        return false;
    }
    if (y != yd->year) {
        snprintf(err, errsz, "%s:%d: %.10s is not in %04d (the year of the file name)", path, lineno, p, yd->year);
        return false;
    }
    const char *date = p;
    p += 10;
    skip_spaces(&p);
    const char *kw = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    size_t kwlen = (size_t)(p - kw);
    int kind;
    if (kwlen == 3 && memcmp(kw, "off", 3) == 0) {
        kind = 1;
    } else if (kwlen == 4 && memcmp(kw, "work", 4) == 0) {
        kind = 2;
    } else {
        snprintf(err, errsz, "%s:%d: expected 'off' or 'work' after the date, got '%.*s'", path, lineno,
                 (int)(kwlen > 40 ? 40 : kwlen), kw);
        return false;
    }
    int64_t day = civil_days_from(y, m, d);
    if (kind == 2 && civil_weekday(day) < 5) {
        snprintf(err, errsz,
                 "%s:%d: %.10s is a %s, already a working day; 'work' is for a Saturday or Sunday made a working "
                 "day (调休)",
                 path, lineno, date, weekday_name(day));
        return false;
    }
    int doy = (int)(day - civil_days_from(y, 1, 1));
    if (yd->kind[doy]) {
        snprintf(err, errsz, "%s:%d: %.10s is listed twice (first on line %d)", path, lineno, date, yd->line[doy]);
        return false;
    }
    yd->kind[doy] = (unsigned char)kind;
    yd->line[doy] = lineno;
    return true;
}

static bool load_file(year_data_t *yd, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    bool ok = true;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *text = line;
        if (lineno == 1 && n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
            text += 3;
            n -= 3;
        }
        if (!utf8_valid(text, n)) {
            snprintf(err, errsz, "%s:%d: not valid UTF-8 text (save the file as UTF-8)", path, lineno);
            ok = false;
            break;
        }
        ok = parse_line(yd, path, lineno, text, err, errsz);
    }
    if (ok && ferror(f)) {
        snprintf(err, errsz, "%s: read error: %s", path, strerror(errno));
        ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

bool workcal_load_dir(workcal_t *self, const char *dir, char *err, size_t errsz)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        snprintf(err, errsz, "cannot read calendar directory %s: %s", dir, strerror(errno));
        return false;
    }
    int *years = NULL;
    size_t nyears = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        int y;
        if (!is_year_file(de->d_name, &y))
            continue;
        if (nyears == cap) {
            cap = cap ? cap * 2 : 8;
            years = realloc(years, cap * sizeof *years);
            if (!years)
                log_oom();
        }
        years[nyears++] = y;
    }
    closedir(dh);
    if (nyears == 0) {
        snprintf(err, errsz, "calendar directory %s holds no YYYY.txt file", dir);
        free(years);
        return false;
    }
    qsort(years, nyears, sizeof *years, cmp_int);

    year_data_t *data = calloc(nyears, sizeof *data);
    if (!data)
        log_oom();
    size_t nnew = 0;
    bool ok = true;
    for (size_t i = 0; i < nyears && ok; i++) {
        size_t plen = strlen(dir) + 10;
        char *path = malloc(plen);
        if (!path)
            log_oom();
        snprintf(path, plen, "%s/%04d.txt", dir, years[i]);
        if (workcal_year_loaded(self, years[i])) {
            snprintf(err, errsz, "%s: year %04d is already loaded", path, years[i]);
            ok = false;
        } else {
            data[i].year = years[i];
            ok = load_file(&data[i], path, err, errsz);
        }
        free(path);
        if (!ok)
            break;
        for (int k = 0; k < 366; k++)
            nnew += data[i].kind[k] != 0;
    }
    if (!ok) {
        free(data);
        free(years);
        return false;
    }

    /* Commit: merge the new marks and years into the calendar. */
    size_t nmarks = self->nmarks + nnew;
    mark_t *marks = malloc((nmarks ? nmarks : 1) * sizeof *marks);
    int64_t *prefix = malloc((nmarks + 1) * sizeof *prefix);
    int *all_years = malloc((self->nyears + nyears) * sizeof *all_years);
    if (!marks || !prefix || !all_years)
        log_oom();
    if (self->nmarks)
        memcpy(marks, self->marks, self->nmarks * sizeof *marks);
    size_t j = self->nmarks;
    for (size_t i = 0; i < nyears; i++) {
        int64_t jan1 = civil_days_from(data[i].year, 1, 1);
        for (int k = 0; k < 366; k++) {
            if (!data[i].kind[k])
                continue;
            int64_t day = jan1 + k;
            bool work = data[i].kind[k] == 2;
            marks[j].day = day;
            marks[j].work = work;
            marks[j].delta = work ? (civil_weekday(day) < 5 ? 0 : 1) : (civil_weekday(day) < 5 ? -1 : 0);
            j++;
        }
    }
    qsort(marks, nmarks, sizeof *marks, cmp_mark);
    prefix[0] = 0;
    int64_t noff = 0;
    for (size_t i = 0; i < nmarks; i++) {
        prefix[i + 1] = prefix[i] + marks[i].delta;
        noff += marks[i].delta < 0;
    }
    if (self->nyears)
        memcpy(all_years, self->years, self->nyears * sizeof *all_years);
    memcpy(all_years + self->nyears, years, nyears * sizeof *all_years);
    qsort(all_years, self->nyears + nyears, sizeof *all_years, cmp_int);

    free(self->marks);
    free(self->prefix);
    free(self->years);
    self->marks = marks;
    self->nmarks = nmarks;
    self->prefix = prefix;
    self->noff_weekday = noff;
    self->years = all_years;
    self->nyears += nyears;
    free(data);
    free(years);
    return true;
}

/* ---- queries ---- */

bool workcal_year_loaded(const workcal_t *self, int year)
{
    if (self->nyears == 0)
        return false;
    return bsearch(&year, self->years, self->nyears, sizeof *self->years, cmp_int) != NULL;
}

bool workcal_is_working_day(const workcal_t *self, int y, int m, int d)
{
    if (!valid_date(y, m, d))
        return false;
    return working_day(self, civil_days_from(y, m, d));
}

int64_t workcal_day_seconds(const workcal_t *self) { return self->day_us / US_PER_SEC; }

int64_t workcal_add(const workcal_t *self, int64_t start_us, int64_t working_seconds)
{
    if (working_seconds <= 0)
        return start_us;
    int64_t start = clamp_us(start_us);
    if (working_seconds > (MAX_US - MIN_US) / US_PER_SEC)
        return WORKCAL_NEVER;
    int64_t left = working_seconds * US_PER_SEC;
    int64_t off = (int64_t)self->offset_min * 60 * US_PER_SEC;
    int64_t local = start + off;
    int64_t day = civil_floor_div(local, DAY_US);
    int64_t sod = local - day * DAY_US;

    /* The rest of the start day. */
    if (working_day(self, day)) {
        for (int i = 0; i < self->nperiods; i++) {
            if (sod >= self->pend[i])
                continue;
            int64_t from = sod > self->pstart[i] ? sod : self->pstart[i];
            int64_t avail = self->pend[i] - from;
            if (left <= avail) {
                int64_t t = day * DAY_US + from + left - off;
                return t > MAX_US ? WORKCAL_NEVER : t;
            }
            left -= avail;
        }
    }

    /* The deadline falls on the k-th working day after the start day, with r us left for it. */
    int64_t k = (left + self->day_us - 1) / self->day_us;
    int64_t r = left - (k - 1) * self->day_us;
    /* Any 7n consecutive days hold 5n weekdays, of which at most noff_weekday are listed off,
     * so the k-th working day is at the latest day + 7n for n = (k + noff) / 5 + 1. */
    int64_t lo = day + 1, hi = day + 7 * ((k + self->noff_weekday) / 5 + 1);
    while (lo < hi) { /* smallest D with working_days(day + 1, D + 1) >= k */
        int64_t mid = lo + (hi - lo) / 2;
        if (working_days(self, day + 1, mid + 1) >= k)
            hi = mid;
        else
            lo = mid + 1;
    }
    int64_t last_day = civil_floor_div(MAX_US + off, DAY_US);
    if (lo > last_day)
        return WORKCAL_NEVER;
    for (int i = 0; i < self->nperiods; i++) {
        int64_t avail = self->pend[i] - self->pstart[i];
        if (r <= avail) {
            int64_t t = lo * DAY_US + self->pstart[i] + r - off;
            return t > MAX_US ? WORKCAL_NEVER : t;
        }
        r -= avail;
    }
    return WORKCAL_NEVER; /* not reached: r <= day_us */
}

int64_t workcal_between(const workcal_t *self, int64_t from_us, int64_t to_us)
{
    int64_t from = clamp_us(from_us), to = clamp_us(to_us);
    if (to <= from)
        return 0;
    int64_t off = (int64_t)self->offset_min * 60 * US_PER_SEC;
    int64_t lf = from + off, lt = to + off;
    int64_t df = civil_floor_div(lf, DAY_US), dt = civil_floor_div(lt, DAY_US);
    int64_t sf = lf - df * DAY_US, st = lt - dt * DAY_US;
    int64_t us;
    if (df == dt)
        us = work_in_day(self, df, sf, st);
    else
        us = work_in_day(self, df, sf, DAY_US) + working_days(self, df + 1, dt) * self->day_us +
             work_in_day(self, dt, 0, st);
    return us / US_PER_SEC;
}
