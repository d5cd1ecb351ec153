#include "curve_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static const char Z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool curve_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

bool curve_z85_decode(const char *text, size_t len, uint8_t raw[CURVE_KEY_BYTES])
{
    if (len != CURVE_Z85_LEN)
        return false;
    /* Every group of five characters must be a base-85 number below 2^32: libzmq's own decoder
     * would wrap such a group silently into another key. */
    for (size_t g = 0; g < len; g += 5) {
        uint64_t v = 0;
        for (size_t i = g; i < g + 5; i++) {
            const char *d = text[i] ? strchr(Z85, text[i]) : NULL;
            if (!d)
                return false;
            v = v * 85 + (uint64_t)(d - Z85);
        }
        if (v > 0xFFFFFFFFu)
            return false;
    }
    char z[CURVE_Z85_SIZE];
    memcpy(z, text, len);
    z[len] = '\0';
    uint8_t tmp[CURVE_KEY_BYTES];
    bool ok = zmq_z85_decode(tmp, z) != NULL;
    if (ok && raw)
        memcpy(raw, tmp, sizeof tmp);
    explicit_bzero(tmp, sizeof tmp);
    explicit_bzero(z, sizeof z);
    return ok;
}

/* Reads the key text of path into out; for a secret key, refuses a file others may open. The
 * hint for a missing file names the keygen command that makes it. */
static bool read_key_file(const char *path, const char *dir, const char *name, bool secret, char out[CURVE_Z85_SIZE],
                          char *err, size_t errsz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errsz, "cannot read %s: %s (make the pair with: gridgovctl keygen %s %s)", path, strerror(e),
                     name, dir);
        else
            snprintf(err, errsz, "cannot read %s: %s", path, strerror(e));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "%s is not a regular file", path);
        close(fd);
        return false;
    }
    if (secret && (st.st_mode & 077)) {
        snprintf(err, errsz, "%s is open to other users (mode %04o): a secret key must be 0600 (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return false;
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    size_t len = (size_t)n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    bool ok = curve_z85_decode(buf, len, NULL);
    if (ok) {
        memcpy(out, buf, len);
        out[len] = '\0';
    } else {
        snprintf(err, errsz, "%s does not hold a CURVE key (%d Z85 characters; %zu found)", path, CURVE_Z85_LEN, len);
    }
    explicit_bzero(buf, sizeof buf);
    return ok;
}

static bool key_path(char *path, size_t n, const char *dir, const char *name, const char *ext, char *err, size_t errsz)
{
    if (!curve_name_valid(name)) {
        snprintf(err, errsz, "bad key name '%s': use 1-64 of a-z 0-9 _ -", name ? name : "");
        return false;
    }
    if (!dir || !*dir) {
        snprintf(err, errsz, "no key folder (curve_dir) is set");
        return false;
    }
    if ((size_t)snprintf(path, n, "%s/%s.%s", dir, name, ext) >= n) {
        snprintf(err, errsz, "key folder path too long");
        return false;
    }
    return true;
}

bool curve_key_read_public(const char *dir, const char *name, char pub[CURVE_Z85_SIZE], uint8_t *raw, char *err,
                           size_t errsz)
{
    char path[4096];
    if (!key_path(path, sizeof path, dir, name, "pub", err, errsz) || !read_key_file(path, dir, name, false, pub, err, errsz))
        return false;
    if (raw)
        (void)curve_z85_decode(pub, CURVE_Z85_LEN, raw);
    return true;
}

bool curve_key_read_secret(const char *dir, const char *name, char secret[CURVE_Z85_SIZE], char pub[CURVE_Z85_SIZE],
                           char *err, size_t errsz)
{
    char path[4096];
    if (!key_path(path, sizeof path, dir, name, "key", err, errsz) || !read_key_file(path, dir, name, true, secret, err, errsz))
        return false;
    if (zmq_curve_public(pub, secret) != 0) {
        snprintf(err, errsz, "cannot derive the public key of %s: %s", path, zmq_strerror(errno));
        explicit_bzero(secret, CURVE_Z85_SIZE);
        return false;
    }
    return true;
}

/* Creates path holding text and a newline, failing when it exists. */
static bool write_new(const char *path, const char *text, mode_t mode, char *err, size_t errsz)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errsz, "cannot create %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (a key is never overwritten: remove it first if you mean to replace it)" : "");
        return false;
    }
    char line[CURVE_Z85_SIZE + 1];
    int n = snprintf(line, sizeof line, "%s\n", text);
    /* the umask may have taken bits away, never added: set exactly what was asked */
    bool ok = fchmod(fd, mode) == 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    if (!ok)
        snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
    explicit_bzero(line, sizeof line);
    if (close(fd) != 0 && ok) {
        snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(path);
    return ok;
}

bool curve_key_generate(const char *dir, const char *name, char pub[CURVE_Z85_SIZE], char *err, size_t errsz)
{
    char kpath[4096], ppath[4096];
    if (!key_path(kpath, sizeof kpath, dir, name, "key", err, errsz) ||
        !key_path(ppath, sizeof ppath, dir, name, "pub", err, errsz))
        return false;
    if (!zmq_has("curve")) {
        snprintf(err, errsz, "this libzmq was built without CURVE: cannot make keys");
        return false;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    struct stat st;
    if (stat(ppath, &st) == 0 || stat(kpath, &st) == 0) {
        snprintf(err, errsz, "%s already has a key named %s: a key is never overwritten", dir, name);
        return false;
    }
    char secret[CURVE_Z85_SIZE];
    if (zmq_curve_keypair(pub, secret) != 0) {
        snprintf(err, errsz, "zmq_curve_keypair: %s", zmq_strerror(errno));
        return false;
    }
    /* The secret first: a .pub without its .key is useless, a .key without .pub can be redone. */
    bool ok = write_new(kpath, secret, 0600, err, errsz);
    explicit_bzero(secret, sizeof secret);
    if (ok && !write_new(ppath, pub, 0644, err, errsz)) {
        unlink(kpath);
        ok = false;
    }
    return ok;
}
