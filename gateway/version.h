/* The Portcullis version, shown by `portcullis version` and carried in audit records. */
#ifndef GW_VERSION_H
#define GW_VERSION_H

#define GW_VERSION "0.1.0"

#endif
