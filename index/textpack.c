/*
 * Stored text compression (layout in textpack.h).
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format: magicless frames */
#include "textpack.h"

#include "errors.h"
#include "writer.h" /* CS_TEXT_MAX */

#include <stdlib.h>
#include <pthread.h>
#include <zstd.h>

/* Below this, compression saves little (a frame's header, and no history
 * to match against) and each call costs microseconds of context setup:
 * measured on the synthetic interviews, 48 bytes kept 18% of their text and
 * 128 bytes 16%, for a tenth of the calls. Level 1 compresses short texts
 * as well as level 3, faster. */
#define PACK_MIN 128
#define PACK_LEVEL 1

struct cs_textpack {
  ZSTD_CCtx *cctx;
  cs_buf out;
};

cs_textpack *cs_textpack_create(void) {
  cs_textpack *z = calloc(1, sizeof *z);
  if (!z) return NULL;
  z->cctx = ZSTD_createCCtx();
  if (!z->cctx ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, PACK_LEVEL)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_format, ZSTD_f_zstd1_magicless)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 0)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_dictIDFlag, 0))) {
    cs_textpack_destroy(z);
    return NULL;
  }
  cs_buf_init(&z->out);
  return z;
}

void cs_textpack_destroy(cs_textpack *z) {
  if (!z) return;
  ZSTD_freeCCtx(z->cctx);
  cs_buf_free(&z->out);
  free(z);
}

static void put_plain(cs_buf *b, const char *s, size_t n) {
  cs_buf_u8(b, CS_TEXT_PLAIN);
  cs_buf_str(b, s, n);
}

void cs_textpack_put(cs_textpack *z, cs_buf *b, const char *s, size_t n) {
  if (!z || n < PACK_MIN) {
    put_plain(b, s, n);
    return;
  }
  size_t cap = ZSTD_compressBound(n);
  cs_buf_reset(&z->out);
  if (cs_buf_reserve(&z->out, cap)) {
    b->err = CS_ENOMEM;
    return;
  }
  size_t r = ZSTD_compress2(z->cctx, z->out.p, cap, s, n);
  /* Kept compressed only when it saves more than the two lengths cost. */
  if (ZSTD_isError(r) || r + 4 >= n) {
    put_plain(b, s, n);
    return;
  }
  cs_buf_u8(b, CS_TEXT_ZSTD);
  cs_buf_varint(b, n);
  cs_buf_str(b, (const char *)z->out.p, r);
}

int cs_textpack_get(cs_rd *r, cs_str *out, cs_str *packed) {
  packed->p = NULL;
  packed->len = 0;
  uint8_t codec = cs_rd_u8(r);
  if (codec == CS_TEXT_PLAIN) {
    *out = cs_rd_str(r);
    return r->err;
  }
  if (codec != CS_TEXT_ZSTD) return CS_ECORRUPT;
  uint64_t len = cs_rd_varint(r);
  *packed = cs_rd_str(r);
  /* No text longer than the writer stores: a damaged length must not make
   * a reader allocate gigabytes. */
  if (r->err || len > CS_TEXT_MAX || packed->len == 0) return CS_ECORRUPT;
  out->p = NULL;
  out->len = (size_t)len;
  return 0;
}

/* One decompression context per thread, made on first use and freed when
 * the thread ends: creating one costs more than decompressing a turn (it
 * was a quarter of a search's CPU when every snippet made its own). */
static _Thread_local ZSTD_DCtx *tl_dctx;
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *d) {
  ZSTD_freeDCtx(d);
}

static void dctx_key_init(void) {
  (void)pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *dctx_get(void) {
  if (tl_dctx) return tl_dctx;
  ZSTD_DCtx *d = ZSTD_createDCtx();
  if (!d) return NULL;
  if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_format, ZSTD_f_zstd1_magicless))) {
    ZSTD_freeDCtx(d);
    return NULL;
  }
  pthread_once(&dctx_once, dctx_key_init);
  (void)pthread_setspecific(dctx_key, d);
  tl_dctx = d;
  return d;
}

int cs_textpack_unpack(cs_str packed, size_t len, cs_buf *scratch, cs_str *out) {
  cs_buf_reset(scratch);
  if (cs_buf_reserve(scratch, len + 1)) return CS_ENOMEM;
  ZSTD_DCtx *d = dctx_get();
  if (!d) return CS_ENOMEM;
  size_t r = ZSTD_decompressDCtx(d, scratch->p, len, packed.p, packed.len);
  if (ZSTD_isError(r) || r != len) return CS_ECORRUPT;
  scratch->len = len;
  scratch->p[len] = 0;
  out->p = (const char *)scratch->p;
  out->len = len;
  return 0;
}
