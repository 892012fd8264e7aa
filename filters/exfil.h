/*
 * The exfil filter's markdown machine, lent to the egress filter: its link and image checks
 * (streamed and whole, CommonMark destinations decoded, what may still be replaced held back)
 * with an egress policy as the judge. A construct is flagged when the policy denies its
 * destination (filters/egress_policy.h), whether or not the URL carries data; relative
 * destinations are never flagged. Events are egress-markdown-image / egress-markdown-link
 * (categories egress:markdown_image / egress:markdown_link), markers [REDACTED:egress-image] /
 * [REDACTED:egress-link].
 *
 * The egress filter drives it through gw_flt_exfil's callbacks with the configuration made here
 * and a context of gw_flt_exfil.ctx_size zeroed bytes, and calls gw_flt_exfil.on_tx_end on it.
 */
#ifndef GW_EXFIL_H
#define GW_EXFIL_H

#include "filters/filter.h"

struct gw_egress_policy;

enum gw_md_action { GW_MD_OFF = 0, GW_MD_EVENT, GW_MD_REDACT, GW_MD_BLOCK };

extern const struct gw_filter_ops gw_flt_exfil;

/* A configuration for gw_flt_exfil's callbacks that judges images (and reference definitions)
 * and links by p, which must outlive it. NULL when out of memory. Free with gw_exfil_md_free. */
void *gw_exfil_md_new(const struct gw_egress_policy *p, enum gw_md_action images,
                      enum gw_md_action links);
void gw_exfil_md_free(void *conf);

#endif
