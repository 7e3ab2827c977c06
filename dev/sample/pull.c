/* Scratch: pull a known model with verbose output.
 * cc -O2 -D_GNU_SOURCE -std=c17 -Iinclude -Isrc dev/sample/pull.c src/hub/*.c src/base/status.c -lcrypto -o /tmp/pull
 * XDG_CACHE_HOME=/tmp/x SMELT_PIP_FIND_LINKS=/tmp/dl /tmp/pull smollm2-135m */
#include <stdio.h>
#include "smelt/hub.h"
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        enum smelt_status st = smelt_hub_pull(argv[i], true);
        if (st != SMELT_OK) { fprintf(stderr, "error: %s\n", smelt_last_error()); return 1; }
        char *p = NULL;
        st = smelt_hub_resolve(argv[i], &p);
        printf("%s -> %s (%s)\n", argv[i], p ? p : "?", smelt_status_str(st));
    }
    return 0;
}
