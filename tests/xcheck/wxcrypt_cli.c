/* wxcrypt_cli: common/wxcrypt on the command line, for the cross-check against the npm libraries
 * (tests/xcheck/xcheck.js). Input bytes come on stdin exactly as given (no newline stripped).
 *   wxcrypt_cli encrypt AESKEY APPID [RANDOM16]  stdin: the message   stdout: the base64 text
 *   wxcrypt_cli decrypt AESKEY APPID             stdin: base64 text    stdout: the message
 *   wxcrypt_cli decrypt AESKEY -                 the same, appid not checked; stderr: "appid <id>"
 *   wxcrypt_cli sign TOKEN TIMESTAMP NONCE [ENCRYPT]                   stdout: hex signature
 * A refused input: exit 3 and "wxc <code> <name>" on stderr; a wrong command line: exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wxcrypt.h"

static int usage(void)
{
    fprintf(stderr, "usage: wxcrypt_cli encrypt AESKEY APPID [RANDOM16] | decrypt AESKEY APPID|- | "
                    "sign TOKEN TIMESTAMP NONCE [ENCRYPT]\n");
    return 2;
}

static void read_stdin(buf_t *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        buf_append(b, chunk, n);
}

static int refused(int rc)
{
    fprintf(stderr, "wxc %d %s\n", rc, wxc_strerror(rc));
    return 3;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "sign") == 0) {
        char sig[WXC_SIG_HEX];
        wxc_signature(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL, sig);
        printf("%s\n", sig);
        return 0;
    }
    if (argc < 4)
        return usage();
    bool enc = strcmp(argv[1], "encrypt") == 0;
    if ((!enc && strcmp(argv[1], "decrypt") != 0) || argc > (enc ? 5 : 4))
        return usage();
    unsigned char key[32];
    int rc = wxc_aes_key(argv[2], key);
    if (rc != WXC_OK)
        return refused(rc);
    buf_t in = BUF_INIT;
    read_stdin(&in);
    int status = 0;
    if (enc) {
        if (argc == 5 && strlen(argv[4]) != 16) {
            buf_free(&in);
            return usage();
        }
        char *out = wxc_encrypt(key, argv[3], buf_str(&in), in.len, argc == 5 ? (const unsigned char *)argv[4] : NULL,
                                &rc);
        if (out)
            printf("%s\n", out);
        else
            status = refused(rc);
        free(out);
    } else {
        bool any = strcmp(argv[3], "-") == 0;
        size_t len = 0;
        char *id = NULL;
        char *msg = wxc_decrypt(key, any ? NULL : argv[3], buf_str(&in), &len, &id, &rc);
        if (msg) {
            fwrite(msg, 1, len, stdout);
            if (id)
                fprintf(stderr, "appid %s\n", id);
        } else {
            status = refused(rc);
        }
        free(msg);
        free(id);
    }
    buf_free(&in);
    return status;
}
