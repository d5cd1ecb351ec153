/* gridgovctl keygen NAME [DIR]: a CURVE key pair for one program of the bus (curve_key.h):
 * DIR/NAME.key (secret, 0600) and DIR/NAME.pub, DIR being curve_dir when not given. An existing
 * key is never overwritten: replacing one is a deliberate act (delete it, then run keygen). The
 * public key is printed, for the configuration of the peers on other hosts. */
#include <stdio.h>

#include "ctl.h"
#include "curve_key.h"
#include "log.h"

int ctl_keygen(const cfg_t *cfg, int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gridgovctl keygen NAME [DIR]   (DIR defaults to curve_dir: %s)\n",
                cfg_str(cfg, "curve_dir"));
        return 2;
    }
    const char *name = argv[1], *dir = argc == 3 ? argv[2] : cfg_str(cfg, "curve_dir");
    if (!curve_name_valid(name)) {
        fprintf(stderr, "gridgovctl: bad key name '%s': use 1-64 of a-z 0-9 _ -\n", name);
        return 2;
    }
    char pub[CURVE_Z85_SIZE], err[1024];
    if (!curve_key_generate(dir, name, pub, err, sizeof err)) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    log_info("wrote %s/%s.key (secret, mode 0600) and %s/%s.pub", dir, name, dir, name);
    printf("%s\n", pub);
    return 0;
}
