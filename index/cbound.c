/*
 * Conversation bounds of a postings chunk (see cbound.h).
 */
#include "cbound.h"

#include <math.h>

static const double kind_weight[CS_CB_KINDS] = {0, CS_CB_W_TURN, CS_CB_W_TITLE,
                                                CS_CB_W_DESCRIPTION};

double cs_cbound_doc(int kind, uint32_t tf, uint32_t len, uint32_t avg) {
  double k = CS_CB_K1 * (1.0 - CS_CB_B + CS_CB_B * (double)len * CS_CB_AVG_UNIT / (double)avg);
  return kind_weight[kind] * (CS_CB_K1 + 1.0) * (double)tf / ((double)tf + k);
}

/* x in units, rounded up, with a margin for the rounding of the sums that
 * led to it (a bound may be loose, never low). */
static uint32_t units(double x) {
  double u = ceil(x * CS_CB_UNIT * (1.0 + 1e-9) + 1e-9);
  return u >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)u;
}

int cs_cbound_build(const uint8_t *kind, const uint32_t *conv, const uint32_t *tf,
                    const uint32_t *len, uint32_t n, const uint32_t avg[CS_CB_KINDS],
                    cs_cbound *out) {
  double best = 0;
  for (int k = 0; k < CS_CB_KINDS; k++)
    out->avg[k] = 0;
  for (uint32_t i = 0; i < n;) {
    /* One conversation's documents: its three best values. */
    double top[3] = {0, 0, 0};
    uint32_t j = i;
    for (; j < n && conv[j] == conv[i]; j++) {
      int k = kind[j];
      if (k < 1 || k >= CS_CB_KINDS || avg[k] < 1) return -1;
      out->avg[k] = avg[k];
      double s = cs_cbound_doc(k, tf[j], len[j], avg[k]);
      if (s <= top[2]) continue;
      int t = 2;
      while (t > 0 && top[t - 1] < s) {
        top[t] = top[t - 1];
        t--;
      }
      top[t] = s;
    }
    double v = top[0] + CS_CB_S2 * top[1] + CS_CB_S3 * top[2];
    if (v > best) best = v;
    i = j;
  }
  out->c = units(best);
  return 0;
}

double cs_cbound_scale(const cs_cbound *b, const double *avgdl) {
  double f = 1.0;
  for (int k = 1; k < CS_CB_KINDS; k++) {
    if (!b->avg[k]) continue;
    double r = avgdl[k] * CS_CB_AVG_UNIT / (double)b->avg[k];
    if (r > f) f = r;
  }
  return f;
}

void cs_cbound_merge(cs_cbound *into, const cs_cbound *old, const uint32_t now[CS_CB_KINDS]) {
  double f = 1.0;
  for (int k = 1; k < CS_CB_KINDS; k++) {
    if (!old->avg[k] && !into->avg[k]) continue;
    into->avg[k] = now[k];
    if (!old->avg[k]) continue;
    double r = (double)now[k] / (double)old->avg[k];
    if (r > f) f = r;
  }
  uint32_t o = units((double)old->c / CS_CB_UNIT * f);
  if (o > into->c) into->c = o;
}
