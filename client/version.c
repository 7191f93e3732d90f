/* usher_version: the version this libusher was compiled as, from the macros
 * of usher.h (so the library and its header cannot disagree). */
#include "usher.h"

const char *usher_version(void)
{
    return USHER_VERSION;
}
